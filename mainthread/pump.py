"""Applies scheduler events to strips on the main thread.

In the UI a `bpy.app.timers` timer calls `tick()` while jobs run; headless,
timers never fire, so the batch calls `drain()` in its own loop. Both apply
events through the same function.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections import deque
from collections.abc import Callable

import bpy

from ..jobs import background
from ..jobs.events import (
    TERMINAL_EVENTS,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobProgress,
    JobRouted,
    JobStarted,
    JobSucceeded,
)
from ..jobs.session import JobContext, Session, current_session
from ..panels.text import candidates_json
from ..sequencer import status_colours, takes
from ..settings.packed import pack
from . import previews, submission
from .redraw import redraw_sequencers
from .submission import find_shot_strip

log = logging.getLogger(__name__)

TICK_SECONDS = 0.2
BACKLOG_TICK_SECONDS = 0.03  # events were left for the next tick: come back after about two frames
# A 60 fps frame is 16.7 ms, and Blender draws in it too: a drain applies events for at most this
# long. Everything slow (writing previews, routing, downloads) happens on other threads.
DRAIN_BUDGET_SECONDS = 0.003

EventListener = Callable[[JobEvent, str], None]  # (event, what happened on the timeline)


def drain(
    session: Session | None = None, budget_seconds: float = DRAIN_BUDGET_SECONDS, on_event: EventListener | None = None
) -> int:
    """Apply queued events until the queue is empty or the time budget is spent. Placing a take
    costs several budgets by itself (Blender's `new_movie` opens the file: 8-10 ms), so a drain that
    places one does nothing else: it comes first in its drain, and the drain ends with it (its
    previews are swapped in by the next). Returns how many events were applied."""
    session = session or current_session()
    if session is None:
        status_colours.paint_due(force=True)  # nothing runs: whatever waits is painted now
        return 0
    deadline = time.monotonic() + budget_seconds
    applied = landings = 0
    newest_previews: dict[str, tuple[bytes, str]] = {}  # one frame per shot per drain, not one per event
    events = _take_all(session.events)  # one lock for the whole drain, not one per event
    while events:
        event = events.popleft()
        if isinstance(event, JobSucceeded):
            if applied:
                events.appendleft(event)
                break
            landings += 1
        if isinstance(event, JobProgress) and event.preview_image:
            newest_previews[event.shot_id] = (event.preview_image, event.preview_format)
        outcome = apply_event(session, event)
        applied += 1
        if on_event is not None:
            on_event(event, outcome)
        if landings or time.monotonic() >= deadline:
            break
    if events:
        _put_back(session.events, events)
    # Status colours make Blender re-evaluate the scene: painted with a take placed (which does
    # anyway), at most once a second otherwise, and all of them once the work is done.
    painted = status_colours.paint_due(force=landings > 0 or not session.has_work())
    previews.offer_many(newest_previews)  # written on the previews thread
    swapped = 0 if landings else previews.swap_ready()
    if applied or swapped or painted:
        redraw_sequencers()
    return applied


def _take_all(events: queue.Queue[JobEvent]) -> deque[JobEvent]:
    with events.mutex:
        taken: deque[JobEvent] = events.queue  # type: ignore[attr-defined]
        events.queue = deque()  # type: ignore[attr-defined]
        return taken


def _put_back(events: queue.Queue[JobEvent], left: deque[JobEvent]) -> None:
    """Return what a drain did not apply to the front of the queue, in order, so it is applied next
    (and `has_work` sees it)."""
    with events.mutex:
        left.extend(events.queue)  # type: ignore[attr-defined]
        events.queue = left  # type: ignore[attr-defined]
        events.not_empty.notify()


def has_backlog(session: Session | None) -> bool:
    return session is not None and not session.events.empty()


def settle(session: Session, job_ids: list[str]) -> None:
    """The main thread has shown these jobs' end itself (cancel-all, for the queued ones): their
    events, when drained, change nothing, so a thousand of them cost one drain, not dozens."""
    for job_id in job_ids:
        context = session.jobs.get(job_id)
        if context is not None:
            context.end_shown = True


def apply_event(session: Session, event: JobEvent) -> str:
    context = session.jobs.get(event.job_id)
    if isinstance(event, TERMINAL_EVENTS):
        session.jobs.pop(event.job_id, None)
    if context is None:
        return "job not started from this session"
    if context.end_shown and isinstance(event, TERMINAL_EVENTS):
        return "already shown"
    scene = bpy.data.scenes.get(context.scene_name)
    strip = find_shot_strip(scene, context.shot_id)
    if strip is None:
        return _orphaned(event, context, scene is not None)
    shot = strip.shotcaller
    if shot.job_id and shot.job_id != event.job_id:
        return "superseded by a newer job for this shot"
    if isinstance(event, JobRouted):
        shot.status = "QUEUED"
        shot.message = f"queued on {event.backend}" + (f" (attempt {event.attempt})" if event.attempt > 1 else "")
        pack(
            shot,
            routing_reason=event.explanation,
            backend_used=f"{event.backend} with {event.template}",
            hint="",
            candidates=candidates_json(event.candidates),
        )
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
        status_colours.show_later(scene, context.shot_id)
    return ""


def _orphaned(event: JobEvent, context: JobContext, scene_open: bool) -> str:
    """The shot's strip is gone (deleted, or another file is open): keep the take, say where its file is
    (its record, the .take.json beside it, is no use to someone looking for the take); in the UI, also
    in the status bar, as nothing else on screen can say it."""
    if not isinstance(event, JobSucceeded):
        return ""
    gone = "was deleted while it was generating" if scene_open else "is no longer in the open file"
    message = f"'{context.strip_name}' {gone}; its take is kept: {event.take.primary_file}"
    log.warning(message)
    if not bpy.app.background:
        with contextlib.suppress(RuntimeError):
            bpy.ops.sequencer.shotcaller_report(level="WARNING", message=message)
    return message


def tick() -> float | None:
    """The UI timer: drain, then keep ticking while there is work, stop when idle."""
    session = current_session()
    began = time.monotonic()
    try:
        drain(session)
        background.drain()
        # A large batch is submitted a slice per tick, in what is left of the tick's share of the
        # frame after the drain: a tick that placed a take has spent it, and submits next time.
        left = submission.SUBMIT_BUDGET_SECONDS - (time.monotonic() - began)
        if submission.waiting() and left > 0:
            submission.continue_submitting(left)
    except Exception:  # a timer that raises is silently dropped by Blender: log and keep going
        log.exception("Shotcaller could not apply an event")
    if has_backlog(session) or submission.waiting():
        return BACKLOG_TICK_SECONDS
    if (session is not None and session.has_work()) or background.has_work() or status_colours.waiting():
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
