"""How a bound job runs on its worker thread and how it ends: the second half of the scheduler.

`Scheduler` (scheduler.py) queues, routes and binds jobs; once bound, a job runs here on its
instance's pool: started, run (with resume and segments), then succeeded (speed recorded, cost,
take record), failed (back to the queue when another instance could take it, or failed for the
user with what happens next) or cancelled (the slot kept until the server has stopped it). The
state these share with the scheduler is declared below; the scheduler sets it.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..backends.base import BackendError, Cancelled, GenerationRequest, GenerationResult
from ..routing.candidates import Candidate
from ..routing.registry import CapabilityRegistry, InstanceView
from ..routing.router import Decision, Router
from ..routing.stats import work_units
from .attempts import InterruptedOnServer, JobState, failure_message, remember_failure
from .costs import actual_cost
from .events import JobCancelled, JobEvent, JobFailed, JobProgress, JobStarted, JobSucceeded
from .reattach import JournalReporter, note, run_attempt
from .records import make_take, write_take_record
from .retries import retry_note
from .segmented import run_planned

log = logging.getLogger(__name__)


@dataclass
class _Running:
    job: JobState
    candidate: Candidate
    decision: Decision
    explanation: str
    started: float  # scheduler clock
    expected_seconds: float
    probe: bool  # it holds the half-open trial of its instance's circuit breaker


class JobOutcomes:
    """The run and the end of bound jobs; mixed into `Scheduler`, which owns the state below."""

    registry: CapabilityRegistry
    router: Router
    max_attempts: int
    spent: float
    _clock: Callable[[], float]
    _cond: threading.Condition
    _jobs: dict[str, JobState]
    _pending: list[JobState]
    _running: dict[str, dict[str, _Running]]
    _closed: bool
    _stopping: threading.Event

    def _emit(self, event: JobEvent) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        raise NotImplementedError

    def _views(self) -> list[InstanceView]:
        raise NotImplementedError

    def _waits(self, now: float) -> dict[str, float]:
        raise NotImplementedError

    def _route_job(self, job: JobState, views: list[InstanceView], waits: Mapping[str, float]) -> Decision:
        raise NotImplementedError

    def _run(self, running: _Running) -> None:
        job, candidate = running.job, running.candidate
        backend = candidate.backend
        if job.cancel.is_set():
            self._done(running, JobCancelled(job.job_id, job.spec.shot_id, "cancelled before it started"))
            return
        started_event = JobStarted(job.job_id, job.spec.shot_id, backend.display_name)
        self._emit(started_event)
        note(job, started_event)
        request = GenerationRequest(job.spec, candidate.offer, job.output_dir, job.file_stem)
        started_wall, started = time.time(), self._clock()
        recovered = bool(job.resume_server_job)
        job.started_at = job.started_at or started_wall
        try:
            progress = JournalReporter(self._emit, job)
            try:
                result = run_attempt(
                    backend,
                    request,
                    job,
                    progress,
                    lambda: run_planned(backend, request, candidate.instance.offers, progress, job.cancel),
                )
            finally:  # a failed or cancelled attempt ran too: reports say how long
                job.ran_seconds += self._clock() - started
        except Cancelled as exc:
            if job.cancel.is_set() or self._closed:
                self._cancelled(running, exc)
            else:
                self._failed(running, InterruptedOnServer(exc.message, hint=exc.hint, backend=exc.backend))
        except BackendError as exc:
            self._failed(running, exc)
        except Exception as exc:  # a bug must still end the job visibly, never hang the shot
            log.error("unexpected error in %s:\n%s", backend.display_name, traceback.format_exc())
            self._failed(
                running, BackendError(f"unexpected error: {exc!r}", backend=backend.display_name), failover=False
            )
        else:
            self._succeeded(running, result, started_wall, self._clock() - started, recovered)

    def _succeeded(
        self, running: _Running, result: GenerationResult, started_wall: float, seconds: float, recovered: bool
    ) -> None:
        job, candidate = running.job, running.candidate
        iid = candidate.instance_id
        if not recovered:  # a recovered job's time says nothing about the server's speed
            self.router.speeds.record(iid, candidate.offer.name, seconds, work_units(job.spec))
        self.router.health.record_success(iid)
        cost, cost_source, job.run_seconds = actual_cost(result, candidate.instance, seconds)
        reason = running.explanation
        take = make_take(job.spec, candidate, result, reason, job.submitted_at, started_wall).model_copy(
            update={"cost": cost, "cost_source": cost_source, "recovered": recovered}
        )
        if job.journal is not None:
            job.journal.add_cost(job.job_id, cost, cost_source)
        routing = {
            **running.decision.to_record(),
            "adjustments": job.adjustments,
            "cost": round(cost, 4),
            "seconds": round(seconds, 3),
            "attempts": job.attempts,
        }
        record = write_take_record(job.output_dir, job.file_stem, take, job.spec, reason, running.decision, routing)
        with self._cond:
            self.spent += cost
        self._done(running, JobSucceeded(job.job_id, job.spec.shot_id, take, record))

    def _failed(self, running: _Running, exc: BackendError, *, failover: bool | None = None) -> None:
        job, candidate = running.job, running.candidate
        may_fail_over = exc.failover if failover is None else failover
        remember_failure(
            job,
            candidate,
            exc,
            may_fail_over=may_fail_over,
            registry=self.registry,
            health=self.router.health,
            now=self._clock(),
        )
        with self._cond:
            self._running[candidate.instance_id].pop(job.job_id, None)
            retry = may_fail_over and job.dispatches < self.max_attempts and not job.cancel.is_set()
            if retry and not self._closed:
                # Only if something could still take it: else it fails now, saying what happens next.
                decision = self._route_job(job, self._views(), self._waits(self._clock()))
                retry = decision.chosen is not None or decision.retry_in is not None
            if retry and not self._closed:
                note = retry_note(candidate.backend.display_name, exc, decision)
                self._emit(JobProgress(job.job_id, job.spec.shot_id, 0.0, note))
                self._pending.insert(0, job)  # it has waited longest: first in line again
                self._wake()
                return
            message, hint = failure_message(job, exc, candidate.backend.display_name, self.max_attempts)
            self._finish_locked(job, JobFailed(job.job_id, job.spec.shot_id, exc.kind, message, hint, **job.timings))

    def _cancelled(self, running: _Running, exc: Cancelled) -> None:
        """The shot is cancelled for the user now; its slot stays taken until the server has stopped it."""
        job, iid = running.job, running.candidate.instance_id
        event = JobCancelled(job.job_id, job.spec.shot_id, exc.message or "cancelled", **job.timings)
        if exc.settle is None or self._stopping.is_set():
            self._done(running, event)
            return
        with self._cond:
            self._jobs.pop(job.job_id, None)
            self._emit(event)
        try:
            exc.settle(self._stopping)
        except Exception:  # a failed wait must still free the slot
            log.exception("waiting for %s to stop a cancelled job failed", running.candidate.backend.display_name)
        if running.probe:
            self.router.health.release_probe(iid)
        with self._cond:
            self._running[iid].pop(job.job_id, None)
            self._wake()  # a slot freed

    def _done(self, running: _Running, event: JobEvent) -> None:
        if isinstance(event, JobCancelled) and running.probe:
            self.router.health.release_probe(running.candidate.instance_id)
        with self._cond:
            self._running[running.candidate.instance_id].pop(running.job.job_id, None)
            self._finish_locked(running.job, event)

    def _finish_locked(self, job: JobState, event: JobEvent) -> None:
        self._jobs.pop(job.job_id, None)
        note(job, event)  # before the event, so whoever sees it finds the journal already updated
        self._emit(event)
        self._wake()  # a slot freed
