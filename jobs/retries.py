"""Retries that respect the provider, and a final message that says each cause once and what happens next.

- A busy or rate-limited answer's own wait (Retry-After, "try again in N s") is honoured; without
  one the pause doubles from the scheduler's `busy_backoff`. The wait applies to that instance
  only: another one that can take the shot is tried at once.
- One job asks one instance at most BUSY_TRIES times while it answers busy, so one provider 429
  costs at most 3 provider calls. A server that already retried the request itself (`retry_here`
  False: LiteLLM's provider client for images) is not asked again by this job at all, nor is one
  that asks for a wait longer than LONGEST_WAIT (the user would rather know now).
- The final message lists each distinct cause once (with how often it happened); when the last
  cause was "busy" the hint says truthfully that nothing more is tried, and when to try again.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..backends.base import BackendBusy, BackendError
from ..routing.candidates import ANY_OFFER, Exclusion

if TYPE_CHECKING:  # attempts.py uses these rules: no import cycle at run time
    from ..routing.router import Decision
    from .attempts import JobState

BUSY_TRIES = 3
LONGEST_WAIT = 300.0  # seconds: a provider asking for more fails the shot now, saying when to try again


def remember_busy(job: JobState, instance_id: str, exc: BackendBusy, now: float) -> None:
    """Leave a busy instance alone for as long as it asked (or a doubling pause), or for good."""
    tries = job.busy_tries.get(instance_id, 0) + (1 if exc.retry_here else BUSY_TRIES)
    job.busy_tries[instance_id] = tries
    wait = exc.retry_after
    if wait is None:
        wait = job.busy_backoff
        job.busy_backoff *= 2
    if tries >= BUSY_TRIES or wait > LONGEST_WAIT:
        job.excluded[(instance_id, ANY_OFFER)] = Exclusion(exc.message)  # not again for this job
    else:
        job.excluded[(instance_id, ANY_OFFER)] = Exclusion(exc.message, until=now + max(0.0, wait))


def distinct(attempts: Iterable[str]) -> str:
    """Each cause once, in the order they first happened, with how often when more than once."""
    counts = Counter(attempts)
    return "; ".join(cause if counts[cause] == 1 else f"{cause}, {counts[cause]} times" for cause in counts)


def final_message(job: JobState, exc: BackendError, backend_name: str, max_attempts: int = 0) -> str:
    if len(job.attempts) <= 1:
        return exc.message if exc.backend or not backend_name else f"{backend_name}: {exc.message}"
    causes = distinct(job.attempts)
    if max_attempts and job.dispatches >= max_attempts:
        return f"gave up after {job.dispatches} attempts: {causes}"
    if len(set(job.attempts)) < len(job.attempts):  # one place failed more than once
        return f"failed after {len(job.attempts)} attempts: {causes}"
    return f"every backend failed: {causes}"


def final_hint(exc: BackendError | None) -> str:
    """What happens next, truthfully: after a busy answer nothing more is tried, so say when to try again."""
    if exc is None:
        return ""
    if not isinstance(exc, BackendBusy):
        return exc.hint
    when = f" in {_seconds(exc.retry_after)} or later" if exc.retry_after else " later"
    told = "" if type(exc) is BackendBusy else f" {exc.hint}"  # a subclass's hint says more (the proxy's own limit)
    return f"Nothing more will be tried for this shot: generate it again{when}, or route it to another backend.{told}"


def retry_note(backend_name: str, exc: BackendError, decision: Decision) -> str:
    """The shot's status while it waits for its next attempt."""
    failed = f"{backend_name} failed: {exc.message.rstrip('.')}"
    if decision.chosen is not None:
        return f"{failed}; trying {decision.chosen.label}"
    wait = f" in {_seconds(decision.retry_in)}" if decision.retry_in else ""
    return f"{failed}; trying again{wait}"


def _seconds(value: float | None) -> str:
    seconds = max(0.0, value or 0.0)
    if seconds >= 120:
        return f"{math.ceil(seconds / 60 - 0.05)} min"
    return f"{max(1, math.ceil(seconds - 0.05))} s"  # a wait already under way still reads as its whole seconds
