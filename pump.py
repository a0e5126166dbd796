"""Applies scheduler events to strips on the main thread.

In the UI a `bpy.app.timers` timer calls `tick()` while jobs run; headless,
timers never fire, so the batch calls `drain()` in its own loop. Both apply
events through the same function.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable

import bpy

from . import background, previews
from .jobs.events import (
    TERMINAL_EVENTS,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobProgress,
    JobRouted,
    JobStarted,
    JobSucceeded,
)
from .panels.text import candidates_json
from .sequencer import status_colours, takes
from .session import JobContext, Session, current_session
from .submission import find_shot_strip

log = logging.getLogger(__name__)

TICK_SECONDS = 0.2
DRAIN_BUDGET_SECONDS = 0.02  # keep each UI tick short so Blender stays responsive

EventListener = Callable[[JobEvent, str], None]  # (event, what happened on the timeline)


def drain(
    session: Session | None = None, budget_seconds: float = DRAIN_BUDGET_SECONDS, on_event: EventListener | None = None
) -> int:
    """Apply queued events until the queue is empty or the time budget is spent. Returns how many."""
    session = session or current_session()
    if session is None:
        return 0
    deadline = time.monotonic() + budget_seconds
    applied = 0
    newest_previews: dict[str, tuple[bytes, str]] = {}  # one file write per shot per drain, not per frame
    while True:
        try:
            event = session.events.get_nowait()
        except queue.Empty:
            break
        if isinstance(event, JobProgress) and event.preview_image:
            newest_previews[event.shot_id] = (event.preview_image, event.preview_format)
        outcome = apply_event(session, event)
        applied += 1
        if on_event is not None:
            on_event(event, outcome)
        if time.monotonic() >= deadline:
            break
    for shot_id, (image, image_format) in newest_previews.items():
        previews.show(shot_id, image, image_format)
    if applied:
        redraw_sequencers()
    return applied


def apply_event(session: Session, event: JobEvent) -> str:
    context = session.jobs.get(event.job_id)
    if isinstance(event, TERMINAL_EVENTS):
        session.jobs.pop(event.job_id, None)
    if context is None:
        return "job not started from this session"
    scene = bpy.data.scenes.get(context.scene_name)
    strip = find_shot_strip(scene, context.shot_id)
    if strip is None:
        return _orphaned(event, context)
    shot = strip.shotcaller
    if shot.job_id and shot.job_id != event.job_id:
        return "superseded by a newer job for this shot"
    if isinstance(event, JobRouted):
        shot.status, shot.routing_reason = "QUEUED", event.explanation
        shot.message = f"queued on {event.backend}" + (f" (attempt {event.attempt})" if event.attempt > 1 else "")
        shot.backend_used, shot.hint = f"{event.backend} with {event.template}", ""
        shot.candidates = candidates_json(event.candidates)
    elif isinstance(event, JobStarted):
        shot.status, shot.message = "RUNNING", f"generating on {event.backend}"
    elif isinstance(event, JobProgress):
        shot.progress = event.fraction
        if event.message:
            shot.message = event.message
    elif isinstance(event, JobSucceeded):
        return takes.land_take(scene, strip, event)
    elif isinstance(event, JobFailed):
        shot.status, shot.message, shot.hint, shot.job_id = "FAILED", event.text, event.hint, ""
    elif isinstance(event, JobCancelled):
        shot.status, shot.message, shot.job_id = "CANCELLED", event.message, ""
    if not isinstance(event, JobProgress):
        status_colours.show(strip)
    return ""


def _orphaned(event: JobEvent, context: JobContext) -> str:
    """The shot's strip is gone (deleted, or another file is open): keep the take, say where."""
    if isinstance(event, JobSucceeded):
        where = event.record_path or event.take.primary_file
        message = f"shot '{context.strip_name}' is no longer in the edit; its take is kept at {where}"
        log.warning(message)
        return message
    return ""


def redraw_sequencers() -> None:
    window_manager = getattr(bpy.context, "window_manager", None)
    if window_manager is None:
        return
    for window in window_manager.windows:
        for area in window.screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()


def tick() -> float | None:
    """The UI timer: drain, then keep ticking while there is work, stop when idle."""
    session = current_session()
    try:
        drain(session)
        background.drain()
    except Exception:  # a timer that raises is silently dropped by Blender: log and keep going
        log.exception("Shotcaller could not apply an event")
    if (session is not None and session.has_work()) or background.has_work():
        return TICK_SECONDS
    return None


def ensure_timer() -> None:
    """Start the UI drain timer. Headless it would never fire, so the batch drains itself instead."""
    if bpy.app.background:
        return
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=0.05)


def stop_timer() -> None:
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
