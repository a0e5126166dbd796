"""What the scheduler does for the journal: record each job's life, follow a job the server already has,
and fetch a finished job's files again instead of generating it again.

Kept out of scheduler.py so the rules read in one place:
- every state change of a job with a journal is written there as it happens (`note`);
- the backend's `announce_server_job` lands in `JournalReporter.server_job`, which writes the
  server's id the moment it is known, and marks when the server has finished (its files are ready);
- an attempt whose download failed after the server finished is retried against the same server
  job (`backend.resume`), up to FETCH_AGAIN times, before the failure may send it elsewhere;
- a job re-attached after a crash runs `backend.resume` with the journal's server id; when the
  server no longer knows it, it is generated again there (headless) or fails saying so (UI).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from ..backends.base import (
    Backend,
    BackendError,
    Cancelled,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    JobLost,
    Progress,
)
from ..routing.candidates import Candidate
from ..routing.registry import InstanceView
from ..routing.router import Decision
from ..routing.scorers import Score
from ..routing.segments import plan_for
from ..shots import ShotSpec
from .attempts import JobState
from .events import JobCancelled, JobEvent, JobFailed, JobRouted, JobStarted, JobSucceeded
from .journal import Journal
from .progress import ProgressThrottle

log = logging.getLogger(__name__)

FETCH_AGAIN = 2  # more fetches of a finished job's files before its failure counts


class NotRecovered(BackendError):
    """A job followed up after a crash that the server no longer has. The shot is generated again
    only when the user asks (in the UI) so that nothing is paid for without them knowing."""

    failover = False
    kind = "job_lost"


class JournalReporter(ProgressThrottle):
    """The progress callback a backend gets, with the `server_job` hook `announce_server_job` calls."""

    def __init__(self, emit: Callable[[JobEvent], None], job: JobState) -> None:
        super().__init__(emit, job.job_id, job.spec.shot_id)
        self.job = job

    def server_job(self, server_job_id: str, stage: str) -> None:
        job = self.job
        job.server_job_id = server_job_id
        job.server_finished = job.server_finished or stage == "finished"
        if job.journal is None:
            return
        if stage == "finished":
            job.journal.update(job.job_id, server_job_id=server_job_id, state="fetching")
        elif stage == "sending":
            job.journal.update(job.job_id, server_job_id=server_job_id, state="sending")
        else:
            job.journal.update(job.job_id, server_job_id=server_job_id, state="accepted", accepted_at=time.time())

    def note(self, message: str) -> None:
        """A line on the shot's status without moving its progress bar."""
        self(Progress(max(0.0, self._fraction), message))


def run_attempt(
    backend: Backend,
    request: GenerationRequest,
    job: JobState,
    report: JournalReporter,
    generate: Callable[[], GenerationResult],
) -> GenerationResult:
    """One attempt: `generate`, or follow the journal's server job; a cut-off fetch is retried on the same job.

    A shot made in segments is several server jobs: its finished segments are kept on disk and found
    again by `generate` (jobs/segmented.py), so it is never followed or fetched by one server id.
    """
    cancel = job.cancel
    segmented = is_segmented(request)
    job.server_job_id, job.server_finished = job.resume_server_job, False
    try:
        if job.resume_server_job and not segmented:
            try:
                return backend.resume(request, job.resume_server_job, report, cancel)
            except JobLost as exc:
                if not job.regenerate_if_lost:
                    raise NotRecovered(
                        f"{exc.message}; the take Blender was waiting for when it closed is lost",
                        hint="Generate the shot again.",
                        backend=backend.display_name,
                    ) from None
                log.info("%s: %s; generating it again", backend.display_name, exc.message)
                report.note(f"{backend.display_name} no longer has the job: generating it again")
                job.resume_server_job, job.server_job_id = "", ""
        return generate()
    except (Cancelled, InvalidRequest, NotRecovered):
        raise
    except BackendError as first:
        if segmented or not (job.server_finished and job.server_job_id and backend.can_resume):
            raise
        error = first
        for _ in range(FETCH_AGAIN):  # finished work is fetched again, not made again
            if cancel.wait(0.5):
                raise Cancelled("the job was cancelled while its files were fetched again") from None
            report.note(f"fetching the finished job again ({error.message})")
            try:
                return backend.resume(request, job.server_job_id, report, cancel)
            except (Cancelled, InvalidRequest):
                raise
            except BackendError as again:
                error = again
        raise error from first
    finally:
        job.resume_server_job = ""  # a later attempt (failover) generates


def is_segmented(request: GenerationRequest) -> bool:
    plan = plan_for(request.offer, request.spec.frame_count, request.spec.fps)
    return plan is not None and plan.segmented


def pinned_decision(spec: ShotSpec, view: InstanceView, offer_name: str, why: str) -> Decision | None:
    """A decision for exactly this instance and offer (a re-attached job goes nowhere else)."""
    offer = next((o for o in view.offers if o.name == offer_name), None)
    if offer is None:
        return None
    score = Score(0, 0.0, 0.0, 0.0, 0.0, 0.0, "journal")
    return Decision(spec.shot_id, (Candidate(view, offer),), (), why, (score,))


def note(job: JobState, event: JobEvent, *, server_url: str = "", kind: str = "", model: str = "") -> None:
    """Write one scheduler event into the job's journal row (no journal: nothing to do)."""
    journal = job.journal
    if journal is None:
        return
    if isinstance(event, JobRouted):
        journal.update(
            job.job_id,
            state="routed",
            attempt=event.attempt,
            instance_id=event.instance_id,
            offer=event.template,
            backend_kind=kind,
            model=model,
            server_url=server_url,
            server_job_id="",
        )
    elif isinstance(event, JobStarted):
        journal.update(job.job_id, started_at=time.time())
    elif isinstance(event, JobSucceeded):
        take = event.take
        journal.update(
            job.job_id,
            state="done",
            files=take.files,
            take=take.model_dump(mode="json"),
            record_path=event.record_path,
            server_job_id=take.server_job_id or job.server_job_id,
            finished_at=take.finished_at or time.time(),
            run_seconds=job.run_seconds,
        )
    elif isinstance(event, JobFailed):
        state = "lost" if event.error_kind == "job_lost" else "failed"
        journal.update(job.job_id, state=state, message=event.text[:2000], finished_at=time.time())
    elif isinstance(event, JobCancelled):
        journal.update(job.job_id, state="cancelled", message=event.message, finished_at=time.time())


def note_cancelled_many(jobs: Sequence[JobState], message: str) -> None:
    """Mark many jobs cancelled in their journals with one write per journal, not one per job (cancel-all)."""
    by_journal: dict[int, tuple[Journal, list[str]]] = {}
    for job in jobs:
        if job.journal is not None:
            by_journal.setdefault(id(job.journal), (job.journal, []))[1].append(job.job_id)
    finished_at = time.time()
    for journal, job_ids in by_journal.values():
        journal.update_many(job_ids, state="cancelled", message=message, finished_at=finished_at)
