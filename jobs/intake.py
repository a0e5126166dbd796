"""Where submitted jobs wait for the scheduler to take them in, so that submitting costs the main
thread a queue append.

Taking a job in means writing its journal row (disk), looking its request up in the content cache
(disk), and routing it under the scheduler's lock, which the dispatcher holds while it plans the
whole queue (up to tens of milliseconds at 1000 queued jobs). Measured in Blender 5.0 submitting
1000 shots: that was 72% of the main thread's submitting time (1.4 ms per shot at the median, 14-30 ms
at the tail), the rest reading the strip and writing its status. A thread of its own does it now,
one job at a time and in order; the main thread only takes this queue's lock, which no one holds
for longer than an append or a pop.

A job counts as active from the moment it is put here (see `ids`), and a cancel reaches it here
too: one still waiting is withdrawn (the scheduler writes its row as cancelled), the one being
taken in is marked and taken in as cancelled. No server ever sees either.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import cache
from .attempts import JobState
from .journal import Journal

log = logging.getLogger(__name__)


@dataclass
class Submitted:
    job: JobState
    context: Mapping[str, object] | None
    bypass_cache: bool


class Intake:
    def __init__(self, take_in: Callable[[Submitted], None]) -> None:
        self._take_in = take_in
        self._cond = threading.Condition()
        self._waiting: deque[Submitted] = deque()
        self._taking: Submitted | None = None  # popped, not yet taken in: still counted
        self._closed = False
        self._thread: threading.Thread | None = None

    def put(self, item: Submitted) -> None:
        with self._cond:
            self._waiting.append(item)
            if self._thread is None:  # started by the first submit, not when a session is made
                self._thread = threading.Thread(target=self._run, name="shotcaller-intake", daemon=True)
                self._thread.start()
            self._cond.notify()

    def ids(self) -> list[str]:
        """Jobs submitted and not yet taken in. A job leaves this queue only after the scheduler has
        it (or its end is an event), so the scheduler reads these first and its own jobs second."""
        with self._cond:
            taking = [self._taking.job.job_id] if self._taking is not None else []
            return taking + [item.job.job_id for item in self._waiting]

    def cancel(self, job_ids: Iterable[str]) -> tuple[list[Submitted], str | None]:
        """Take these jobs out of the queue where they still wait (returned, for the scheduler to end),
        and mark the one being taken in, if it is one of them (its id returned: it ends as it is
        taken in)."""
        wanted = set(job_ids)
        with self._cond:
            gone = [item for item in self._waiting if item.job.job_id in wanted]
            if gone:
                self._waiting = deque(item for item in self._waiting if item.job.job_id not in wanted)
            taking = self._taking
            if taking is None or taking.job.job_id not in wanted:
                return gone, None
            taking.job.cancel.set()
            return gone, taking.job.job_id

    def close(self, timeout: float = 2.0) -> None:
        """Stop once what waits has been taken in (the scheduler cancelled it all first)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if not self._waiting:
                    return
                item = self._taking = self._waiting.popleft()
            try:
                self._take_in(item)
            except Exception:  # a bug taking one job in must not stop the others
                log.exception("Shotcaller could not queue job %s", item.job.job_id)
            finally:
                with self._cond:
                    self._taking = None
                    self._cond.notify_all()


def journal_row(item: Submitted) -> dict[str, Any]:
    """What the journal keeps of a submitted job (`Journal.submitted_many`'s keywords)."""
    job = item.job
    job.request_hash = job.request_hash or cache.request_hash(job.spec)
    return dict(
        job_id=job.job_id, shot_id=job.spec.shot_id, request=job.spec.model_dump(mode="json"),
        request_hash=job.request_hash, output_dir=job.output_dir, file_stem=job.file_stem,
        context=item.context, submitted_at=job.submitted_at,
    )  # fmt: skip


def journal_submitted_many(items: Iterable[Submitted]) -> None:
    """The journal rows of jobs never taken in, one transaction per journal (cancel-all)."""
    by_journal: dict[int, tuple[Journal, list[Mapping[str, Any]]]] = {}
    for item in items:
        if item.job.journal is not None:
            by_journal.setdefault(id(item.job.journal), (item.job.journal, []))[1].append(journal_row(item))
    for journal, rows in by_journal.values():
        journal.submitted_many(rows)
