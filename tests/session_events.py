"""Following a real Session's (or Scheduler's) jobs in core tests: its events, until a job ends."""

from __future__ import annotations

from typing import Any

from shotcaller.jobs.events import TERMINAL_EVENTS
from shotcaller.jobs.session import Session


def events_until_done(session: Session | Any, job_id: str, timeout: float = 60.0) -> list:
    """Every event of `job_id` up to and including its terminal one (other jobs' events are passed
    over), from a Session or a bare Scheduler (both have `events`)."""
    seen = []
    while True:
        event = session.events.get(timeout=timeout)
        if event.job_id == job_id:
            seen.append(event)
            if isinstance(event, TERMINAL_EVENTS):
                return seen


def end_of(session: Session | Any, job_id: str, timeout: float = 60.0) -> Any:
    """The terminal event of `job_id` (every other event is passed over)."""
    return events_until_done(session, job_id, timeout)[-1]


def ends_of(session: Session | Any, job_ids: Any, timeout: float = 60.0) -> dict:
    """job id -> its terminal event, for every one of `job_ids` (other events are passed over)."""
    wanted, ended = set(job_ids), {}
    while len(ended) < len(wanted):
        event = session.events.get(timeout=timeout)
        if event.job_id in wanted and isinstance(event, TERMINAL_EVENTS):
            ended[event.job_id] = event
    return ended


def run(session: Session, spec: Any, folder: Any, timeout: float = 60.0) -> list:
    """Submit `spec` and return its events until it ends."""
    return events_until_done(session, session.scheduler.submit(spec, str(folder), "take"), timeout)
