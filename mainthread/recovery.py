"""Following up, after Blender died, the jobs its journal says were still running. Main thread only.

When a .blend is opened (addon/handlers.py) and when a headless batch starts (headless/run.py), every
unfinished job in the project's journal whose shot is in the scene, and whose Blender process is
gone, is handed back to the scheduler with the server's job id: a job the server finished is
downloaded and becomes its take, a job still running is followed to its end. A job no server
ever accepted (Blender died before the server answered) has nothing to follow: it is marked
abandoned, and the shot says to generate it again.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from ..backends.sentences import join_sentences
from ..jobs.journal import JOURNAL_NAME, JournalEntry
from ..jobs.session import JobContext, Session, get_session
from ..sequencer import compat
from ..sequencer import index as strip_index
from ..settings.preferences import Settings, current_settings
from .submission import backend_settings, is_take_strip, job_context, project_journal, takes_folder

log = logging.getLogger(__name__)


@dataclass
class RecoveryOutcome:
    followed: list[tuple[str, str]] = field(default_factory=list)  # (strip name, job id)
    abandoned: list[tuple[str, str]] = field(default_factory=list)  # (strip name, why)
    session: Session | None = None


def owner_alive(entry: JournalEntry) -> bool:
    """Is the Blender process that submitted the job still running (it is then that process's job)?"""
    pid = entry.context.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process of that number: not a Blender of ours
        return False
    except OSError:
        return False
    return True


def recover_jobs(
    scene: Any,
    settings: Settings | None = None,
    *,
    regenerate_if_lost: bool,
    session: Session | None = None,
) -> RecoveryOutcome:
    """Re-attach the scene's unfinished journal jobs. `regenerate_if_lost`: a job the server forgot is
    generated again (the batch was asked to generate); else the shot fails saying so (the UI)."""
    outcome = RecoveryOutcome()
    if scene is None or scene.sequence_editor is None:
        return outcome
    settings = settings or current_settings()
    folder = takes_folder(settings)
    if not os.path.isfile(os.path.join(folder, JOURNAL_NAME)):
        return outcome  # nothing was ever generated here: no journal is created by opening a file
    journal = project_journal(folder)
    if journal is None:
        return outcome
    shots = [strip for strip in compat.all_strips(scene.sequence_editor) if not is_take_strip(strip)]
    strips = {strip.shotcaller.shot_id: strip for strip in shots if strip.shotcaller.shot_id}
    unnamed = {strip.name: strip for strip in shots if not strip.shotcaller.shot_id}
    entries = []
    for entry in journal.unfinished():
        if entry.context.get("scene", scene.name) != scene.name or owner_alive(entry):
            continue
        if entry.shot_id not in strips and entry.context.get("strip") in unnamed:
            # The shot got its id when it was submitted, and Blender died before the file was saved:
            # the strip of that name without an id is that shot.
            strip = unnamed.pop(str(entry.context["strip"]))
            strip.shotcaller.shot_id = entry.shot_id
            strips[entry.shot_id] = strip
            strip_index.invalidate(scene)  # an id the index has never seen, on a strip it counted
        if entry.shot_id in strips:
            entries.append(entry)
    if not entries:
        return outcome
    if session is None:
        try:
            session = get_session(backend_settings(settings))
        except Exception as exc:  # an unusable server address: the shots say why they were not followed
            for entry in entries:
                why = f"Blender closed while this shot was generating, and Shotcaller could not follow its job: {exc}"
                _abandon(journal, entry, strips[entry.shot_id], why)
                outcome.abandoned.append((strips[entry.shot_id].name, str(exc)))
            return outcome
    outcome.session = session
    newest: dict[str, JournalEntry] = {}
    for entry in entries:  # one job per shot is followed: the newest
        older = newest.get(entry.shot_id)
        if older is not None:
            _abandon(journal, older, None, "a newer job of the same shot was submitted after it")
        newest[entry.shot_id] = entry
    for entry in newest.values():
        strip = strips[entry.shot_id]
        if entry.job_id in session.jobs:
            continue
        job_id = session.scheduler.reattach(entry, journal, regenerate_if_lost=regenerate_if_lost)
        if job_id is None:
            why = (
                "Blender closed before any server accepted this shot: nothing was made or paid for"
                if not entry.server_job_id
                else f"Blender closed while this shot was generating on {entry.server_url or entry.instance_id},"
                f" and no {entry.backend_kind} server at that address is configured now to follow it"
            )
            _abandon(journal, entry, strip, why)
            outcome.abandoned.append((strip.name, why))
            continue
        quality = str(entry.context.get("quality") or entry.request.get("quality") or "draft")
        session.jobs[job_id] = JobContext(scene.name, entry.shot_id, strip.name, quality)
        journal.update(job_id, context=_json(job_context(scene, strip, quality)))
        shot = strip.shotcaller
        shot.job_id, shot.status, shot.progress = job_id, "RUNNING", 0.0
        where = entry.server_url or entry.instance_id
        shot.message = f"Blender closed while this shot was generating: following its job on {where}"
        outcome.followed.append((strip.name, job_id))
    return outcome


AGAIN = "Generate it again (Retry Failed in the Shots panel makes it with the same seed)."


def _abandon(journal: Any, entry: JournalEntry, strip: Any | None, why: str) -> None:
    """`why` is a whole sentence (it says Blender closed): the shot's message adds what to do."""
    journal.update(entry.job_id, state="abandoned", message=why)
    if strip is not None and strip.shotcaller.status in {"QUEUED", "RUNNING", "NONE"}:
        shot = strip.shotcaller
        shot.status, shot.message, shot.hint, shot.job_id = "INTERRUPTED", join_sentences(why, AGAIN), AGAIN, ""


def _json(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value, default=str)
