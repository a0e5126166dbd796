"""File-load handling: jobs a dead Blender left on a server are followed up, the rest are marked, not left spinning."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import bpy
from bpy.app.handlers import persistent

from ..sequencer import compat, status_colours
from ..settings.properties import ACTIVE_STATUSES
from . import lazy

log = logging.getLogger(__name__)


@persistent
def on_load_post(*_args: Any) -> None:
    submission = lazy.loaded("mainthread.submission")
    if submission is not None:
        submission.forget_waiting()  # shots still to submit belonged to the file that was closed
    status_colours.forget_due()
    followed = 0
    for scene in bpy.data.scenes:
        if scene.sequence_editor is None:
            continue
        try:
            followed += _recover(scene)
        except Exception:  # a broken journal must never stop a file from opening
            log.exception("Shotcaller could not follow up the jobs of scene '%s'", scene.name)
        session = lazy.current_session()  # after _recover: the jobs it followed up are running
        running = set(session.jobs) if session is not None else set()
        for strip in compat.all_strips(scene.sequence_editor):
            shot = strip.shotcaller
            if shot.status in ACTIVE_STATUSES and shot.job_id not in running:
                shot.status = "INTERRUPTED"
                shot.message = "Blender closed while this shot was generating; generate it again"
                shot.job_id = ""
    if followed:
        from ..mainthread import pump

        pump.ensure_timer()


def _recover(scene: Any) -> int:
    from ..jobs.journal import JOURNAL_NAME
    from ..mainthread.recovery import recover_jobs
    from ..mainthread.submission import project_journal, takes_folder
    from ..settings.preferences import current_settings

    settings = current_settings()
    folder = takes_folder(settings)
    if not os.path.isfile(os.path.join(folder, JOURNAL_NAME)):
        return 0
    outcome = recover_jobs(scene, settings, regenerate_if_lost=False)
    journal = project_journal(folder)
    if journal is not None:  # the journal is the record of spending; the .blend may not have been saved
        spending = journal.spending()
        project = scene.shotcaller_project
        if sum(spending.values()) > project.spent:
            project.spent = sum(spending.values())
            project.spent_by_backend = json.dumps({k: round(v, 6) for k, v in spending.items()}, sort_keys=True)
    return len(outcome.followed)
