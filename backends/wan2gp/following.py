"""Following a Wan2GP job until it ends, and stopping it there.

`wangp_get_job` is polled; its events drive the progress bar (progress.py). A cancel asks
`wangp_cancel_job` to stop the job and returns at once: Wan2GP stops cooperatively, between
steps, so `_settle` waits for the job to end on the server before its slot is given back.
"""

from __future__ import annotations

import logging
import threading
import time

from ...shots import ShotSpec
from ..base import BackendError, BackendUnreachable, shot_cancelled
from ..server_job import ServerJob
from .client import JobSnapshot, Wan2GPClient
from .progress import JobProgress

log = logging.getLogger(__name__)

MAX_EVENT_LIMIT = 500  # the most events a job snapshot holds (the server's own cap)


class JobFollowing:
    """How Wan2GPBackend follows and cancels its jobs; the backend provides the attributes below."""

    client: Wan2GPClient
    display_name: str
    poll_interval: float
    event_limit: int
    settle_timeout: float

    def _wait(
        self, snapshot: JobSnapshot, tracker: JobProgress, cancel: threading.Event, job: ServerJob, spec: ShotSpec
    ) -> JobSnapshot:
        """Poll until the job is done; on cancel, ask the server to stop it and raise Cancelled; past
        the job deadline, the same and JobTimedOut."""
        failures = 0
        while not snapshot.done:
            if cancel.wait(self.poll_interval):
                self._cancel_on_server(snapshot.job_id, spec)
            job.check()
            try:
                snapshot = self.client.get_job(snapshot.job_id, event_limit=self.event_limit)
                if tracker.gap(snapshot.events):
                    # Console lines flooded the window since the last poll: read the events missed.
                    snapshot = self.client.get_job(snapshot.job_id, event_limit=MAX_EVENT_LIMIT)
            except BackendUnreachable:
                failures += 1  # a hiccup is forgiven; a server that stays away is not
                if failures >= 4:
                    raise
                continue
            failures = 0
            tracker.apply(snapshot.events)
        return snapshot

    def _stop_on_server(self, job_id: str) -> None:
        """Ask Wan2GP to stop a job the run is leaving early (the scheduler hears the run's own error)."""
        self.client.cancel_job(job_id, event_limit=0)

    def _cancel_on_server(self, job_id: str, spec: ShotSpec) -> None:
        """Ask Wan2GP to stop the job and raise Cancelled at once.

        Wan2GP stops cooperatively, between steps; loading a model or fetching weights runs on for
        a while. The shot is cancelled for the user now; the scheduler keeps the server's slot until
        `settle` has seen the job end, so the next shot is not refused as busy."""
        done = True
        try:
            done = self.client.cancel_job(job_id, event_limit=0).done
        except BackendError as exc:
            # A server that is gone has nothing left to cancel, and the shot's own failure already says it is
            # not there: a warning naming the settings would only send the user looking for a second fault.
            level = logging.INFO if isinstance(exc, BackendUnreachable) else logging.WARNING
            log.log(level, "%s: could not cancel job %s on the server: %s", self.display_name, job_id, exc)
        raise shot_cancelled(
            spec,
            f"Wan2GP at {self.client.origin}",
            job_id,
            settle=None if done else (lambda stop: self._settle(job_id, stop)),
            then="" if done else "Wan2GP stops it at its next step",
        )

    def _settle(self, job_id: str, stop: threading.Event) -> None:
        """Wait until a cancelled job is done on the server: until then the server is busy with it."""
        deadline = time.monotonic() + self.settle_timeout
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if self.client.get_job(job_id, event_limit=0).done:
                    return
            except BackendError as exc:  # gone or restarted: the next job finds out and says so
                log.info("%s: stopped waiting for job %s to end: %s", self.display_name, job_id, exc)
                return
            stop.wait(self.poll_interval)
        if not stop.is_set():  # Shotcaller closing is no reason to warn
            log.warning(
                "%s: job %s still running %.0f s after it was cancelled", self.display_name, job_id, self.settle_timeout
            )
