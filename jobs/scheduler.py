"""Runs generation jobs on bounded worker threads and reports everything as events.

The main thread calls `submit()` (which routes, a pure sub-millisecond step, and
returns at once) and drains `events`. Each backend instance has its own pool
sized by its concurrency, so one slow server never starves another. Failures
the backend marks as `failover` move the job to the next ranked candidate; user
errors stop it. Every take's provenance is written beside its files so nothing
is lost even when the strip it was made for is gone.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..backends.base import (
    Backend,
    BackendError,
    BackendUnreachable,
    Cancelled,
    GenerationRequest,
    Progress,
)
from ..backends.files import write_atomically
from ..routing.router import Decision, Router
from ..shots import ShotSpec, Take
from .events import (
    JobCancelled,
    JobEvent,
    JobFailed,
    JobProgress,
    JobRouted,
    JobStarted,
    JobSucceeded,
)

log = logging.getLogger(__name__)

_PROGRESS_STEP = 0.005  # smaller moves are not worth an event


@dataclass
class _Job:
    job_id: str
    spec: ShotSpec
    output_dir: str
    file_stem: str
    decision: Decision
    cancel: threading.Event = field(default_factory=threading.Event)
    submitted_at: float = field(default_factory=time.time)
    attempts: list[str] = field(default_factory=list)  # what failed so far, for the final message


class Scheduler:
    def __init__(
        self,
        backends: Sequence[Backend],
        router: Router | None = None,
        events: queue.Queue[JobEvent] | None = None,
    ) -> None:
        self.backends = list(backends)
        self.router = router or Router()
        self.events: queue.Queue[JobEvent] = events if events is not None else queue.Queue()
        self._pools = {
            backend.instance_id: ThreadPoolExecutor(
                max_workers=max(1, backend.max_concurrent),
                thread_name_prefix=f"shotcaller-{backend.instance_id}",
            )
            for backend in self.backends
        }
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- main-thread API -------------------------------------------------

    def submit(self, spec: ShotSpec, output_dir: str, file_stem: str) -> str:
        """Route and queue one shot. Returns the job id; the outcome arrives as events."""
        if self._closed:
            raise RuntimeError("the scheduler has been shut down")
        job_id = uuid.uuid4().hex
        decision = self.router.route(spec, self.backends)
        if not decision.ranked:
            self._emit(JobFailed(job_id, spec.shot_id, "no_route", decision.explanation))
            return job_id
        job = _Job(job_id, spec, output_dir, file_stem, decision)
        with self._lock:
            self._jobs[job_id] = job
        self._dispatch(job, 0)
        return job_id

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return False
        job.cancel.set()
        return True

    def cancel_all(self) -> int:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        return len(jobs)

    @property
    def active_count(self) -> int:
        with self._lock:
            return len(self._jobs)

    def active_job_ids(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def shutdown(self, *, wait: bool = False) -> None:
        """Cancel everything and stop the workers. Backends see `cancel` set and stop cooperatively."""
        self._closed = True
        self.cancel_all()
        for pool in self._pools.values():
            pool.shutdown(wait=wait, cancel_futures=True)
        for backend in self.backends:
            try:
                backend.close()
            except Exception:  # closing must never stop the others from closing
                log.exception("closing %s failed", backend.display_name)

    # -- workers ---------------------------------------------------------

    def _dispatch(self, job: _Job, index: int) -> None:
        candidate = job.decision.ranked[index]
        explanation = job.decision.explanation
        if index > 0:
            explanation = f"fell back after: {'; '.join(job.attempts)}"
        self._emit(
            JobRouted(
                job.job_id,
                job.spec.shot_id,
                candidate.backend.display_name,
                candidate.offer.name,
                explanation,
                attempt=index + 1,
            )
        )
        try:
            self._pools[candidate.backend.instance_id].submit(self._run, job, index)
        except RuntimeError:  # pool shut down between routing and dispatch
            self._finish(job, JobCancelled(job.job_id, job.spec.shot_id, "Shotcaller was shut down"))

    def _run(self, job: _Job, index: int) -> None:
        candidate = job.decision.ranked[index]
        backend = candidate.backend
        if job.cancel.is_set():
            self._finish(job, JobCancelled(job.job_id, job.spec.shot_id, "cancelled before it started"))
            return
        self._emit(JobStarted(job.job_id, job.spec.shot_id, backend.display_name))
        request = GenerationRequest(job.spec, candidate.offer, job.output_dir, job.file_stem)
        started = time.time()
        try:
            result = backend.run(request, self._reporter(job), job.cancel)
        except Cancelled as exc:
            self._finish(job, JobCancelled(job.job_id, job.spec.shot_id, exc.message or "cancelled"))
        except BackendError as exc:
            self._handle_failure(job, index, exc)
        except Exception as exc:  # a bug must still end the job visibly, never hang the shot
            log.error("unexpected error in %s:\n%s", backend.display_name, traceback.format_exc())
            failure = BackendError(f"unexpected error: {exc!r}", backend=backend.display_name)
            self._handle_failure(job, index, failure, failover=False)
        else:
            take = Take(
                shot_id=job.spec.shot_id,
                media=job.spec.media,
                files=result.files,
                backend_kind=backend.kind,
                backend_instance=backend.instance_id,
                template=candidate.offer.name,
                model=result.model or candidate.offer.model,
                parameters=result.parameters,
                seed=job.spec.seed,
                quality=job.spec.quality,
                routing_reason=job.decision.explanation if index == 0 else f"fallback: {job.attempts}",
                server_job_id=result.server_job_id,
                submitted_at=job.submitted_at,
                started_at=started,
                finished_at=time.time(),
            )
            record = self._write_record(job, take)
            self.router.health.mark_up(backend.instance_id)
            self._finish(job, JobSucceeded(job.job_id, job.spec.shot_id, take, record))

    def _handle_failure(
        self, job: _Job, index: int, exc: BackendError, *, failover: bool | None = None
    ) -> None:
        candidate = job.decision.ranked[index]
        backend_name = candidate.backend.display_name
        if isinstance(exc, BackendUnreachable):
            self.router.health.mark_down(candidate.backend.instance_id, exc.kind.replace("_", " "))
        job.attempts.append(f"{candidate.label}: {exc.message}")
        may_fail_over = exc.failover if failover is None else failover
        next_index = self._next_candidate(job, index) if may_fail_over else None
        if next_index is not None and not job.cancel.is_set():
            self._emit(JobProgress(job.job_id, job.spec.shot_id, 0.0, f"{backend_name} failed: {exc.message}"))
            self._dispatch(job, next_index)
            return
        message = exc.message if len(job.attempts) == 1 else "every backend failed: " + "; ".join(job.attempts)
        if not exc.backend and len(job.attempts) == 1:
            message = f"{backend_name}: {message}"
        self._finish(job, JobFailed(job.job_id, job.spec.shot_id, exc.kind, message, exc.hint))

    def _next_candidate(self, job: _Job, index: int) -> int | None:
        for later in range(index + 1, len(job.decision.ranked)):
            instance = job.decision.ranked[later].backend.instance_id
            if self.router.health.unavailable_reason(instance) is None:
                return later
        return None

    def _reporter(self, job: _Job) -> _ProgressThrottle:
        return _ProgressThrottle(self, job)

    def _write_record(self, job: _Job, take: Take) -> str:
        """The take's provenance beside its files: survives a deleted strip or a lost .blend."""
        path = os.path.join(job.output_dir, f"{job.file_stem}.take.json")
        record = {
            "take": json.loads(take.model_dump_json()),
            "shot": json.loads(job.spec.model_dump_json()),
            "decision": job.decision.explanation,
            "candidates": [
                {"candidate": v.candidate.label, "accepted": v.accepted, "reason": v.reason}
                for v in job.decision.verdicts
            ],
        }
        try:
            write_atomically([json.dumps(record, indent=2).encode()], path)
        except BackendError:
            log.exception("could not write the take record %s", path)
            return ""
        return path

    def _finish(self, job: _Job, event: JobEvent) -> None:
        with self._lock:
            self._jobs.pop(job.job_id, None)
        self._emit(event)

    def _emit(self, event: JobEvent) -> None:
        self.events.put(event)


class _ProgressThrottle:
    """Turns a backend's progress callbacks into events, dropping moves too small to see."""

    def __init__(self, scheduler: Scheduler, job: _Job) -> None:
        self._scheduler = scheduler
        self._job = job
        self._fraction = -1.0
        self._message: str | None = None

    def __call__(self, progress: Progress) -> None:
        fraction = min(1.0, max(0.0, progress.fraction))
        moved = abs(fraction - self._fraction) >= _PROGRESS_STEP
        if progress.preview_png is None and not moved and progress.message == self._message:
            return
        self._fraction, self._message = fraction, progress.message
        job = self._job
        self._scheduler._emit(
            JobProgress(job.job_id, job.spec.shot_id, fraction, progress.message, progress.preview_png)
        )
