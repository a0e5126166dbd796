"""One run of a backend as the scheduler must see it: within its job deadline, typed errors only,
and never leaving a job running on the server when the run ends early.

    with ServerJob(f"ComfyUI at {url}", policy.job_seconds) as job:
        prompt_id = client.submit(...)
        job.started(lambda: cancel_there(prompt_id))
        while not done:
            job.check()          # past the deadline: cancelled on the server, JobTimedOut
        job.finished()           # from here on, nothing to cancel

A server that stops answering while the job runs there (refused or dropped connections) went away:
the error says so instead of asking whether it runs at that address at all. An exception that
is not one of the contract's errors (a bug, or a server's answer no check
foresaw) leaves as a ProtocolError naming the server; a job started there is cancelled first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType

from .base import BackendBusy, BackendError, BackendUnreachable, Cancelled, ProtocolError
from .policy import WHERE_TO_RAISE

log = logging.getLogger(__name__)

WENT_AWAY_HINT = "The server was stopped or crashed while making this shot (its console says which); start it again."


class JobTimedOut(BackendBusy):
    """The server did not finish within its job deadline; the job was cancelled there."""

    kind = "job_deadline"


class ServerJob:
    def __init__(self, source: str, deadline_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.deadline_seconds = deadline_seconds
        self._clock = clock
        self._ends_at = clock() + deadline_seconds
        self._cancel: Callable[[], object] | None = None

    def started(self, cancel_on_server: Callable[[], object]) -> None:
        """A job now exists on the server; `cancel_on_server` stops it (it may raise BackendError)."""
        self._cancel = cancel_on_server

    def finished(self) -> None:
        """The server is done with the job (finished or failed there): nothing to cancel any more."""
        self._cancel = None

    def left(self) -> float:
        return self._ends_at - self._clock()

    def check(self) -> None:
        """Raise JobTimedOut (after cancelling the job on the server) once the deadline has passed."""
        if self.left() > 0:
            return
        self.cancel_on_server()
        minutes = self.deadline_seconds / 60
        raise JobTimedOut(
            f"{self.source} did not finish the job within {minutes:g} minutes, this server's job deadline;"
            " it was cancelled on the server",
            hint=f"If jobs like this take longer there, raise 'Job deadline' in {WHERE_TO_RAISE}.",
        )

    def cancel_on_server(self) -> None:
        cancel, self._cancel = self._cancel, None
        if cancel is None:
            return
        try:
            cancel()
        except BackendError as exc:
            # A server that is gone has nothing left to cancel, and the shot's own failure already says it is
            # not there: a warning naming the settings would only send the user looking for a second fault.
            level = logging.INFO if isinstance(exc, BackendUnreachable) else logging.WARNING
            log.log(level, "%s: could not cancel the job on the server: %s", self.source, exc)

    def __enter__(self) -> ServerJob:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc is None or not isinstance(exc, Exception):
            return  # done, or KeyboardInterrupt/SystemExit: let those go as they are
        running = self._cancel is not None
        if not isinstance(exc, Cancelled):  # a cancel has stopped the server's job already
            self.cancel_on_server()
        if running and isinstance(exc, BackendUnreachable) and exc.went_away:
            # It was making this shot a moment ago: not an address to fix, a server that stopped.
            raise BackendUnreachable(
                f"{self.source} went away in the middle of the job: {exc.went_away}", hint=WENT_AWAY_HINT
            ) from exc
        if isinstance(exc, BackendError):
            return
        log.error("%s: unexpected %s", self.source, type(exc).__name__, exc_info=exc)
        raise ProtocolError(
            f"{self.source} sent something Shotcaller could not use ({type(exc).__name__}: {exc})"[:500],
            hint="The job was stopped there. If it keeps happening, report it with the Shotcaller log.",
        ) from exc
