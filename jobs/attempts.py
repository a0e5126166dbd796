"""One job's attempts: what each failure teaches routing, when settings step down, and the final message.

Kept apart from the threads: these functions only read and update a job's state
(and the shared registry and breakers), so the rules are plain to read and test.
Which failure does what:
- unreachable: that instance's breaker opens at once, and the job never goes back there;
- stopped on the server (not by the user): the job never goes back there;
- busy or rate limited: not there again for the wait it asked for, or a pause that doubles, and
  after a few tries not again for this job (retries.py);
- out of memory: the registry remembers the size that failed there, so the VRAM filter
  refuses it (and bigger) for a while; other instances are tried at the same settings,
  and only when none fits do the settings step down;
- missing model or node: remembered for every job, not just this one (for every offer of the
  server it stops, when the server itself lacks something, such as a way to download weights);
- anything else that may fail over (a protocol error): counts against the breaker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..backends.base import (
    BackendBusy,
    BackendError,
    BackendUnreachable,
    CredentialsRefused,
    MissingResource,
    OutOfMemory,
)
from ..routing.candidates import ANY_OFFER, Candidate, Exclusion
from ..routing.decision_log import DecisionLog
from ..routing.health import CircuitBreakers
from ..routing.policy import RoutingPolicy
from ..routing.registry import CapabilityRegistry
from ..routing.router import Decision
from ..routing.stats import frames_of, work_units
from ..shots import ShotSpec
from .journal import Journal
from .retries import final_hint, final_message, remember_busy
from .segmented import family_of, kept_family
from .stepdown import MAX_STEP_DOWNS, step_down


class InterruptedOnServer(BackendError):
    """The server stopped the job though the user did not (it shut down, someone pressed interrupt there).

    The shot still needs its take, so unlike a user's cancel this fails over.
    """

    kind = "interrupted"


@dataclass(eq=False)  # a job is itself: the scheduler's queue finds and removes it by identity, not by its fields
class JobState:
    job_id: str
    spec: ShotSpec  # the settings it runs with: smaller than submitted after a step-down
    output_dir: str
    file_stem: str
    policy: RoutingPolicy
    cancel: threading.Event = field(default_factory=threading.Event)
    submitted_at: float = field(default_factory=time.time)
    attempts: list[str] = field(default_factory=list)  # what failed so far, for messages
    excluded: dict[tuple[str, str], Exclusion] = field(default_factory=dict)
    adjustments: list[str] = field(default_factory=list)
    dispatches: int = 0
    step_downs: int = 0
    busy_backoff: float = 2.0
    busy_tries: dict[str, int] = field(default_factory=dict)  # per instance: busy answers so far (retries.py)
    last_oom: str = ""  # where it last ran out of memory, to say why settings stepped down
    last_error: BackendError | None = None
    decision_log: DecisionLog | None = None  # the project's log; None: the scheduler's own
    journal: Journal | None = None  # the project's job journal; None: nothing survives a crash
    request_hash: str = ""  # the content cache's key of the request as submitted
    resume_server_job: str = ""  # set on a job re-attached from the journal: follow this, generate nothing
    regenerate_if_lost: bool = False  # ...and if the server no longer has it, generate it again there
    server_job_id: str = ""  # the current attempt's job on its server, once the backend announced it
    server_finished: bool = False  # the server has the result ready: a failed fetch is retried there
    run_seconds: float = 0.0  # the finished attempt's run time on the server (or measured, if it did not say)
    expected_seconds: float = 0.0  # its run time as routed at submission: the dispatch order (longest first)
    started_at: float = 0.0  # wall clock when its first attempt started on a server (0: none did)
    ran_seconds: float = 0.0  # how long its attempts ran, failed ones included

    @property
    def timings(self) -> dict[str, float]:
        """For a failed or cancelled shot's event: when it started and how long it ran."""
        return {"started_at": self.started_at, "seconds": round(self.ran_seconds, 3)}


def remember_failure(
    job: JobState,
    candidate: Candidate,
    exc: BackendError,
    *,
    may_fail_over: bool,
    registry: CapabilityRegistry,
    health: CircuitBreakers,
    now: float,
) -> None:
    iid, offer = candidate.instance_id, candidate.offer.name
    if isinstance(exc, CredentialsRefused):
        # The server answered: not a dead one for the breaker. Every offer there fails the same way
        # until its credentials are fixed, so other shots see why and go elsewhere meanwhile.
        for view in registry.views():
            if view.instance_id == iid:
                for other in view.offers:
                    registry.mark_missing(iid, other.name, exc.message)
        job.excluded[(iid, ANY_OFFER)] = Exclusion(exc.message)
        health.release_probe(iid)
    elif isinstance(exc, BackendUnreachable):
        health.record_failure(iid, exc.kind.replace("_", " "), decisive=True)
        job.excluded[(iid, ANY_OFFER)] = Exclusion(exc.message)
    elif isinstance(exc, InterruptedOnServer):  # likely shutting down: not that server again for this job
        job.excluded[(iid, ANY_OFFER)] = Exclusion(exc.message)
        health.release_probe(iid)
    elif isinstance(exc, BackendBusy):  # busy is not broken: asked again after its wait, a few times
        remember_busy(job, iid, exc, now)
        health.release_probe(iid)
    elif isinstance(exc, OutOfMemory):  # this size does not fit there: the VRAM filter now knows
        need = candidate.offer.estimate_vram_gb(job.spec.width, job.spec.height, frames_of(job.spec))
        registry.record_oom(iid, offer, work_units(job.spec), need)
        job.last_oom = candidate.instance.name
        health.release_probe(iid)
    elif isinstance(exc, MissingResource):
        # Other shots see the server's state (with the fix), never this job's own details.
        for name in dict.fromkeys((offer, *exc.offers)):
            registry.mark_missing(iid, name, exc.server_state or exc.message)
            job.excluded[(iid, name)] = Exclusion(exc.message)
        health.release_probe(iid)
    elif may_fail_over:
        health.record_failure(iid, exc.message)
        # An address-level failure (a 404 on a core endpoint, not this protocol) would fail every
        # template there the same way: not that server again for this job.
        job.excluded[(iid, ANY_OFFER if exc.address_failure else offer)] = Exclusion(exc.message)
    else:  # a user error says nothing about the server's health
        health.release_probe(iid)
    family = kept_family(exc)
    if family and may_fail_over:  # finished segments look like this family: fail over within it only
        reason = f"its segments so far were made with {family}, another model family would not match them"
        for view in registry.views():
            for other in view.offers:
                if other.media is candidate.offer.media and family_of(other) != family:
                    job.excluded.setdefault((view.instance_id, other.name), Exclusion(reason))
    job.attempts.append(f"{candidate.label} ({exc.message})")
    job.last_error = exc


def failure_message(job: JobState, exc: BackendError, backend_name: str, max_attempts: int) -> tuple[str, str]:
    """(message, hint) of a job's final failure: each cause once, and truthfully what happens next."""
    return final_message(job, exc, backend_name, max_attempts), final_hint(exc)


def no_route_failure(job: JobState, decision: Decision) -> tuple[str, str, str]:
    """(error kind, message, hint) for a job nothing can take: never could, or every candidate failed it."""
    if not job.attempts:
        return "no_route", decision.explanation, ""
    last = job.last_error
    message = final_message(job, last, "") if last is not None else ""
    # The routing sentence would only name the failures again; it is worth adding when something else
    # stands in the way too (memory, budget, locality).
    others = [v for v in decision.verdicts if not v.accepted and v.filter not in ("media", "excluded")]
    if others or not message:
        message = f"{message}. {decision.explanation}" if message else decision.explanation
    return (last.kind if last else "all_failed"), message, final_hint(last)


def route_with_step_down(job: JobState, route: Callable[[ShotSpec], Decision]) -> Decision:
    """Route; when only memory stands in the way, step the job's settings down and say why."""
    decision = route(job.spec)
    while decision.blocked_by_memory and job.step_downs < MAX_STEP_DOWNS:
        stepped = step_down(job.spec)
        if stepped is None:
            break
        smaller, change = stepped
        if job.last_oom:
            why = f"after running out of memory on {job.last_oom}"
        else:
            memory = next(v for v in decision.verdicts if v.filter == "vram")
            why = (
                f"no backend has the memory at {job.spec.width}x{job.spec.height} "
                f"({memory.candidate.instance.name}: {memory.reason})"
            )
        job.adjustments.append(f"{change} {why}")
        job.spec, job.step_downs = smaller, job.step_downs + 1
        decision = route(job.spec)
    return decision
