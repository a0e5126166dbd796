"""Runs generation jobs on bounded worker threads and reports everything as events.

The main thread calls `submit()` (a queue append: the journal row, the cache lookup
and the routing check happen on the intake thread, intake.py) and drains `events`.
A dispatcher thread binds queued jobs to instances only when a slot can take them
(planning.py, dispatch.py), within each instance's slots and rate limit; each instance has
its own worker pool, so one slow server never starves another. A failure the
backend marks `failover` sends the job back to the queue with that failure
remembered (unreachable: not that instance again; out of memory: not that size
there, and smaller settings when nothing else fits); user errors stop it. Attempts
are bounded. Every take's provenance is written beside its files, and every binding
is appended to the decision log.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..backends.base import Backend
from ..routing.decision_log import DecisionLog
from ..routing.health import CircuitBreakers
from ..routing.policy import RoutingPolicy
from ..routing.registry import CapabilityRegistry, InstanceStatus
from ..routing.router import Decision, Router
from ..shots import ShotSpec
from . import cache
from .attempts import JobState
from .events import JobCancelled, JobEvent, JobFailed, JobSucceeded
from .intake import Intake, Submitted, journal_row, journal_submitted_many
from .journal import Journal, JournalEntry
from .limits import RateLimiter
from .outcomes import _Running
from .planning import IDLE_RECHECK, DispatchPlanning
from .reattach import note, note_cancelled_many, pinned_decision
from .records import log_record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cancellation:
    """What `Scheduler.cancel_now` did: how many of the jobs asked were active, which of them
    (queued, never started) ended at once, and the message their JobCancelled events carry."""

    asked: int
    ended: list[str]
    message: str


@dataclass(frozen=True)
class InstanceReport:
    """One instance for the backends panel: configuration, discovery, load, health, measured speed."""

    status: InstanceStatus
    in_flight: int
    breaker: str
    breaker_reason: str
    seconds_per_unit: Mapping[str, float]


class Scheduler(DispatchPlanning):
    def __init__(
        self,
        backends: Sequence[Backend] = (),
        router: Router | None = None,
        events: queue.Queue[JobEvent] | None = None,
        *,
        registry: CapabilityRegistry | None = None,
        policy: RoutingPolicy | None = None,
        decision_log: DecisionLog | None = None,
        max_attempts: int = 5,
        busy_backoff: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry if registry is not None else CapabilityRegistry.from_backends(backends)
        self.backends = self.registry.backends
        self.router = router or Router()
        self.events: queue.Queue[JobEvent] = events if events is not None else queue.Queue()
        self.policy = policy or RoutingPolicy()
        self.decision_log = decision_log
        self.max_attempts = max(1, max_attempts)
        self.busy_backoff = busy_backoff  # first pause before a busy instance is asked again; doubles
        self._clock = clock
        self.spent = 0.0  # money spent by this session's jobs, against project budgets
        ids = [entry.instance_id for entry in self.registry.instances]
        self._limits = {e.instance_id: RateLimiter(e.config.rate_limit_per_minute) for e in self.registry.instances}
        self._pools = {
            e.instance_id: ThreadPoolExecutor(
                max_workers=max(1, e.config.slots), thread_name_prefix=f"shotcaller-{e.instance_id}"
            )
            for e in self.registry.instances
        }
        self._running: dict[str, dict[str, _Running]] = {iid: {} for iid in ids}
        self._pending: list[JobState] = []
        self._cancel_writers: list[threading.Thread] = []  # journaling cancelled queued jobs (cancel_now)
        self._jobs: dict[str, JobState] = {}
        # The last job `_take_in` let go of (queued here, or ended): the intake lists it until
        # `_take_in` returns, but from then on this scheduler's own count is the one that holds.
        self._taken_in: str | None = None
        self._cond = threading.Condition()
        self._dirty = False
        self._closed = False
        self._stopping = threading.Event()  # set at shutdown: stops waits for cancelled jobs to settle
        self._intake = Intake(self._take_in)
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="shotcaller-dispatch", daemon=True)
        self._dispatcher.start()

    @property
    def health(self) -> CircuitBreakers:
        return self.router.health

    # -- main-thread API -------------------------------------------------

    def submit(
        self,
        spec: ShotSpec,
        output_dir: str,
        file_stem: str,
        *,
        policy: RoutingPolicy | None = None,
        decision_log: DecisionLog | None = None,
        journal: Journal | None = None,
        context: Mapping[str, object] | None = None,
        bypass_cache: bool = False,
    ) -> str:
        """Queue one shot. Returns the job id; the outcome arrives as events (a hopeless shot fails at once).

        `policy`, `decision_log` and `journal` belong to the shot's project, so they travel with the
        job: two projects with jobs in flight never route, log or spend under each other's settings.
        With a journal, a request identical to one already made is served from its take (no backend
        call) unless `bypass_cache` (Redo, Regenerate); `context` is kept in the journal so a job
        followed up after a crash finds its strip again.
        """
        if self._closed:
            raise RuntimeError("the scheduler has been shut down")
        job = JobState(
            uuid.uuid4().hex,
            spec,
            output_dir,
            file_stem,
            policy or self.policy,
            busy_backoff=self.busy_backoff,
            decision_log=decision_log,
            journal=journal,
        )
        self._intake.put(Submitted(job, context, bypass_cache))  # taken in on its own thread: intake.py
        return job.job_id

    def _take_in(self, item: Submitted) -> None:
        """A submitted job into the journal, then the cache or the queue (the intake thread)."""
        job, spec = item.job, item.job.spec
        try:
            if job.journal is not None:
                job.journal.submitted_many([journal_row(item)])
            cacheable = not job.cancel.is_set() and job.journal is not None and not item.bypass_cache
            if cacheable and self._serve_from_cache(job):
                return
        except Exception as exc:  # the job must end in an event, or its shot would say queued forever
            log.exception("taking job %s in failed", job.job_id)
            message = f"Shotcaller could not queue the shot: {exc}"
            self._end_taken_in(job, JobFailed(job.job_id, spec.shot_id, "internal", message))
            return
        with self._cond:
            # Checked under the lock cancel_now holds while it marks the job: cancelled, or queued and
            # then found there by a cancel that comes after.
            cancelled = job.cancel.is_set() or self._closed
            try:
                decision = None if cancelled else self._route_job(job, self._views(), {})
            except Exception as exc:  # as above: a bug routing one job must still end it
                log.exception("routing job %s failed", job.job_id)
                message = f"Shotcaller could not route the shot: {exc}"
                self._end_taken_in(job, JobFailed(job.job_id, spec.shot_id, "internal", message))
                return
            if decision is None:
                record = None
            elif decision.chosen is None and decision.retry_in is None:
                self._end_taken_in(job, JobFailed(job.job_id, spec.shot_id, "no_route", decision.explanation))
                record = (job, log_record(job, decision, "no_route", decision.explanation))
            else:
                job.expected_seconds = decision.scores[0].run_seconds if decision.scores else 0.0
                self._jobs[job.job_id] = job
                self._pending.append(job)
                self._taken_in = job.job_id  # counted in _jobs now, until its end
                self._wake()
                record = None
        if cancelled:
            self._end_taken_in(job, JobCancelled(job.job_id, spec.shot_id, "cancelled before it started"))
        if record is not None:
            self._append_log([record])

    def _serve_from_cache(self, job: JobState) -> bool:
        assert job.journal is not None
        offered = {(e.config.kind, o.name, o.model) for e in self.registry.instances for o in e.backend.offers()}
        entry = cache.find(job.journal, job.request_hash, offered)
        if entry is None:
            return False
        take = cache.cached_take(entry, job.spec)
        job.journal.update(
            job.job_id, instance_id=entry.instance_id, backend_kind=entry.backend_kind, offer=entry.offer,
            model=entry.model, server_url=entry.server_url, cost_source="cache",
        )  # fmt: skip
        self._end_taken_in(job, JobSucceeded(job.job_id, job.spec.shot_id, take, entry.record_path))
        return True

    def _end_taken_in(self, job: JobState, event: JobEvent) -> None:
        """The end of a job the intake is taking in (cancelled, served from the cache, or failed).

        The intake still lists the job until `_take_in` returns, so it stops counting as active here,
        in the same hold of the lock as its event goes out: whoever reads the event then finds the
        count without it (cancel-all's last event came with the count still 1), and whoever finds the
        count without it finds its event queued.

        Its journal row is written first, as every other end's is: a shot no server could take that
        still said queued would be reported after a crash as one Blender closed on before any server
        accepted it. A journal that cannot be written (the reason the intake failed, say) must not
        keep the event from going out."""
        try:
            note(job, event)
        except Exception:
            log.exception("could not write the end of job %s to its journal", job.job_id)
        with self._cond:
            self._taken_in = job.job_id
            self._emit(event)

    def reattach(self, entry: JournalEntry, journal: Journal, *, regenerate_if_lost: bool = False) -> str | None:
        """Follow up a job the journal says was running when Blender died, on the instance it ran on.

        Returns its job id (the journal's: the row goes on), or None when this session has no such
        instance or the journal has no server job id to follow (the caller generates the shot anew).
        """
        if not entry.server_job_id:
            return None
        registered = self.registry.get(entry.instance_id)
        if registered is None or registered.config.kind != entry.backend_kind:
            registered = next(
                (e for e in self.registry.instances if e.config.kind == entry.backend_kind and e.config.url and
                 e.config.url.rstrip("/") == entry.server_url.rstrip("/")),
                None,
            )  # fmt: skip
        if registered is None:
            return None
        try:
            spec = ShotSpec.model_validate(entry.request)
        except ValueError:
            return None
        job = JobState(
            entry.job_id, spec, entry.output_dir, entry.file_stem, self.policy,
            busy_backoff=self.busy_backoff, journal=journal, submitted_at=entry.submitted_at,
        )  # fmt: skip
        job.request_hash, job.resume_server_job, job.regenerate_if_lost = (
            entry.request_hash,
            entry.server_job_id,
            regenerate_if_lost,
        )
        with self._cond:
            view = next((v for v in self._views() if v.instance_id == registered.instance_id), None)
            where = f"{registered.backend.display_name}"
            decision = (
                None
                if view is None
                else pinned_decision(
                    spec, view, entry.offer, f"Recovered from {where}: it had the job when Blender closed."
                )
            )
            if decision is None:
                return None
            self._jobs[job.job_id] = job
            self._bind_locked(job, decision, self._clock(), probe=False, queued=False)
        return job.job_id

    def route_preview(self, spec: ShotSpec, policy: RoutingPolicy | None = None) -> Decision:
        """Where a shot would go now and why, without queueing it (for the panel)."""
        with self._cond:
            return self._route(spec, policy or self.policy, self._views(), self._waits(self._clock()), {})

    def cancel(self, job_id: str) -> bool:
        return self.cancel_many([job_id]) == 1

    def cancel_many(self, job_ids: Iterable[str]) -> int:
        """Cancel these jobs (see `cancel_now`). Returns how many were active."""
        return self.cancel_now(job_ids).asked

    def cancel_now(self, job_ids: Iterable[str]) -> Cancellation:
        """Cancel these jobs in one pass over the queue (linear, not jobs x queue). Queued ones end
        now (listed in the result, for the caller to show); running ones are told and end when their
        backend stops.

        The queued ones' journal rows are written on a thread of their own, then their events are
        queued: a thousand rows of requests are tens of milliseconds of disk the UI need not wait
        for. They count as active until then, so whoever waits for the end sees the journal written.
        (Killed in between, the journal still says queued: recovery marks them abandoned, never
        sends them.)"""
        message = "cancelled before it started"
        job_ids = list(dict.fromkeys(job_ids))
        with self._cond:  # and then the intake's lock: no one counting active jobs misses these
            # Never taken in: they end with the queued ones; the one being taken in ends as it is.
            withdrawn, being_taken_in = self._intake.cancel(job_ids)
            jobs = [self._jobs[j] for j in job_ids if j in self._jobs]
            doomed = {id(job) for job in jobs}
            queued = [job for job in self._pending if id(job) in doomed]  # never reached a worker
            waiting = {id(job) for job in queued}
            for job in jobs:
                if id(job) not in waiting:  # taken out of the queue below: no thread holds a queued one
                    job.cancel.set()
            if queued:
                self._pending[:] = [job for job in self._pending if id(job) not in doomed]
                self._wake()
            for item in withdrawn:  # active, like the queued ones, until their events are out
                self._jobs[item.job.job_id] = item.job
        if queued or withdrawn:
            writer = threading.Thread(
                target=self._end_cancelled, args=(queued, withdrawn, message), name="shotcaller-cancel", daemon=True
            )
            self._cancel_writers = [w for w in self._cancel_writers if w.is_alive()] + [writer]
            writer.start()
        ended = [job.job_id for job in queued] + [item.job.job_id for item in withdrawn]
        asked = len({job.job_id for job in jobs} | set(ended) | ({being_taken_in} if being_taken_in else set()))
        return Cancellation(asked, ended, message)

    def _end_cancelled(self, queued: list[JobState], withdrawn: list[Submitted], message: str) -> None:
        journal_submitted_many(withdrawn)  # their rows, then all of them cancelled: a few writes in all
        queued = queued + [item.job for item in withdrawn]
        note_cancelled_many(queued, message)  # before anyone sees the events
        with self._cond:
            for job in queued:
                self._jobs.pop(job.job_id, None)
            self._emit_many([JobCancelled(job.job_id, job.spec.shot_id, message) for job in queued])
            self._wake()

    def cancel_all(self) -> int:
        return self.cancel_many(self.active_job_ids())

    @property
    def active_count(self) -> int:
        return len(self.active_job_ids())

    def active_job_ids(self) -> list[str]:
        """Every job submitted that has not ended: queued, running, or not yet taken in."""
        # The intake's first, then the scheduler's: a job leaves the intake only once the scheduler
        # has it (or its end is an event). Read the other way round, a job taken in between the two
        # reads was in neither, and a pump asking whether work was left stopped for good.
        # The one the intake has just handed over counts as the scheduler says: in _jobs until its end
        # is an event (cancel-all ends a queued job while the intake may still list it).
        waiting = self._intake.ids()
        with self._cond:
            known = list(self._jobs)
            handed_over = self._taken_in
        return list(dict.fromkeys(known + [job_id for job_id in waiting if job_id != handed_over]))

    def fleet_status(self) -> list[InstanceReport]:
        speeds = self.router.speeds.snapshot()
        with self._cond:
            in_flight = {iid: len(running) for iid, running in self._running.items()}
        reports = []
        for row in self.registry.status():
            breaker = self.router.health.status(row.instance_id)
            reports.append(
                InstanceReport(
                    row,
                    in_flight.get(row.instance_id, 0),
                    breaker.state.value,
                    breaker.reason,
                    speeds.get(row.instance_id, {}),
                )
            )
        return reports

    def notify_changed(self) -> None:
        """Something outside changed (a probe found an instance back): plan again."""
        with self._cond:
            self._wake()

    def shutdown(self, *, wait: bool = False) -> None:
        """Cancel everything and stop the workers. Backends see `cancel` set and stop cooperatively."""
        self.cancel_all()
        self._stopping.set()
        with self._cond:
            self._closed = True
            self._wake()
        self._intake.close()  # what still waits there is taken in as cancelled
        for pool in self._pools.values():
            pool.shutdown(wait=wait, cancel_futures=True)
        if wait:
            for writer in self._cancel_writers:
                writer.join()
        self._dispatcher.join(timeout=2.0)
        for backend in self.backends:
            try:
                backend.close()
            except Exception:  # closing must never stop the others from closing
                log.exception("closing %s failed", backend.display_name)

    # -- dispatcher thread -------------------------------------------------

    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                self._dirty = False
                try:
                    timeout, records = self._plan_locked()
                except Exception:  # a bug while planning must not stop all future dispatching
                    log.exception("planning failed")
                    timeout, records = IDLE_RECHECK, []
            self._append_log(records)  # file I/O outside the lock
            with self._cond:
                if not self._dirty and not self._closed:
                    self._cond.wait(timeout)

    # -- workers -----------------------------------------------------------

    def _wake(self) -> None:
        self._dirty = True
        self._cond.notify_all()

    def _emit(self, event: JobEvent) -> None:
        self.events.put(event)

    def _emit_many(self, events: Sequence[JobEvent]) -> None:
        """Queue many events under one lock (cancel-all ends a thousand queued jobs at once)."""
        with self.events.mutex:
            self.events.queue.extend(events)  # type: ignore[attr-defined]
            self.events.unfinished_tasks += len(events)
            self.events.not_empty.notify(len(events))

    # -- decision log --------------------------------------------------------

    def _append_log(self, records: list[tuple[JobState, dict]]) -> None:
        for job, record in records:
            decision_log = job.decision_log or self.decision_log
            if decision_log is not None:
                decision_log.append(record)
