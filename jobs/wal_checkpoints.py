"""Folding a journal's write-ahead log back into its file, on a thread of its own.

SQLite in WAL mode appends every commit to the `-wal` file and, by default, copies it back into
the database (a checkpoint, with a flush to disk) inside whichever commit crosses 1000 pages. That
commit then takes 20-30 ms instead of a few tenths of one, and the commit may be the main thread's
(a shot submitted) or a worker's holding the journal's lock while the main thread waits for it.
Measured with four writer threads and a main thread submitting 1500 shots: the main thread's
longest write 23 ms with automatic checkpoints, 4 ms without.

So the journal's connection never checkpoints; this thread does, on a connection of its own and
without the journal's lock, after every few hundred writes. A passive checkpoint lets writers go on
committing while it copies, and the interpreter lock is released while SQLite works. The log starts
over at the first write after a checkpoint that no write overlapped, and `JOURNAL_SIZE_LIMIT` trims
the file back then; under writes that never pause, see `_catch_up`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import AbstractContextManager

log = logging.getLogger(__name__)

JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024
WRITES_PER_CHECKPOINT = 300  # a few hundred small rows: about the 1000 pages SQLite would wait for
CATCH_UP_PASSES = 8
PAGE_BYTES = 4096  # SQLite's default page: one frame of the log each (plus a 24-byte header)
HELD_FRAMES = 64  # left after a pass: copied with the writers held back (64 pages: about a millisecond)


class BackgroundCheckpoints:
    def __init__(
        self,
        path: str,
        writes_per_checkpoint: int = WRITES_PER_CHECKPOINT,
        hold: AbstractContextManager[object] | None = None,
        restart_after_bytes: int = JOURNAL_SIZE_LIMIT,
    ) -> None:
        self._path = path
        self._hold = hold
        self._restart_after = restart_after_bytes
        self._every = writes_per_checkpoint
        self._writes = 0
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.done = 0  # checkpoints run so far

    def wrote(self) -> None:
        """One more commit; every `writes_per_checkpoint` of them wakes the thread (started on first need)."""
        with self._lock:
            self._writes += 1
            if self._writes < self._every or self._closed:
                return
            self._writes = 0
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="shotcaller-journal-checkpoints", daemon=True)
                self._thread.start()
        self._wake.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=10)

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, timeout=5.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("the job journal %s cannot be checkpointed: %s", self._path, exc)
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closed:
                    return
                try:
                    self._catch_up(db)
                except sqlite3.Error as exc:  # busy or a full disk: the log keeps growing, nothing is lost
                    log.warning("the job journal %s could not be checkpointed: %s", self._path, exc)
        finally:
            db.close()

    def _catch_up(self, db: sqlite3.Connection) -> None:
        """Checkpoint, and when the log has outgrown `JOURNAL_SIZE_LIMIT`, make sure it starts over.

        At the rates real servers finish jobs, writes pause and the log starts over by itself. Under
        steady writes it never does (each write lands while a checkpoint copies, or is under way when
        one ends: a 5-thread hammer grew it to 600 MB in 5 s), so once it is past the limit, passes
        run while they shrink what is left and the last one runs with the writers held back (`hold`:
        the journal's lock), so the next write finds every frame copied. That pass flushes to disk:
        a worker's write may wait for it (27 ms at the median in the hammer, about 8 times per second
        there); the main thread uses the journal only at file load (recovery). The hammer's log then
        peaked at 12-18 MB."""
        for _ in range(CATCH_UP_PASSES):
            log_frames, left = self._passive(db)
            if self._closed or self._hold is None or log_frames * PAGE_BYTES < self._restart_after:
                return
            if left <= HELD_FRAMES:
                with self._hold:
                    self._passive(db)
                return

    def _passive(self, db: sqlite3.Connection) -> tuple[int, int]:
        """One passive checkpoint: the log's frames, and how many of them it left uncopied."""
        _busy, log_frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.done += 1
        return (log_frames, log_frames - copied) if log_frames >= 0 else (0, 0)
