"""File-load handling: shots saved mid-generation are marked, not left spinning."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.app.handlers import persistent

from . import lazy
from .properties import ACTIVE_STATUSES
from .sequencer import compat


@persistent
def on_load_post(*_args: Any) -> None:
    submission = lazy.loaded("submission")
    if submission is not None:
        submission.forget_waiting()  # shots still to submit belonged to the file that was closed
    session = lazy.current_session()
    running = set(session.jobs) if session is not None else set()
    for scene in bpy.data.scenes:
        if scene.sequence_editor is None:
            continue
        for strip in compat.all_strips(scene.sequence_editor):
            shot = strip.shotcaller
            if shot.status in ACTIVE_STATUSES and shot.job_id not in running:
                shot.status = "INTERRUPTED"
                shot.message = "Blender closed while this shot was generating; generate it again"
                shot.job_id = ""
