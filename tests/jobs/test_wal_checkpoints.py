"""The journal's write-ahead log is folded back into its file on a thread of its own, never inside
a write (a checkpoint inside a write made the main thread's submit wait 20-30 ms)."""

import os
import threading
import time

from shotcaller.jobs.journal import Journal
from shotcaller.jobs.wal_checkpoints import WRITES_PER_CHECKPOINT

REQUEST = {"prompt": "a lighthouse at dusk", "seed": 7}


def submit(journal, count, start=0):
    for n in range(start, start + count):
        journal.submitted(
            f"job{n:05d}", f"shot{n:05d}", request=REQUEST, request_hash="h" * 64, output_dir="/tmp", file_stem=f"s{n}"
        )


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def checkpoint_threads():
    return [t for t in threading.enumerate() if t.name == "shotcaller-journal-checkpoints"]


def test_writes_never_checkpoint_and_the_thread_does(tmp_path):
    journal = Journal(str(tmp_path / "journal.sqlite"))
    assert journal._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    before = len(checkpoint_threads())
    submit(journal, WRITES_PER_CHECKPOINT - 1)
    assert len(checkpoint_threads()) == before  # no thread until there is something to fold back
    submit(journal, 1, start=WRITES_PER_CHECKPOINT)
    wait_for(lambda: journal._checkpoints.done >= 1)
    # A checkpoint no write overlapped: the next write starts the log over, so it stays small.
    journal.update("job00000", state="done")
    frames = journal._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    assert 0 <= frames < 20
    assert os.path.getsize(str(tmp_path / "journal.sqlite-wal")) <= 4 * 1024 * 1024
    journal.close()
    assert len(checkpoint_threads()) == before


def test_every_row_is_in_the_file_after_close(tmp_path):
    path = str(tmp_path / "journal.sqlite")
    journal = Journal(path)
    submit(journal, 2 * WRITES_PER_CHECKPOINT + 5)
    journal.close()
    assert not os.path.exists(path + "-wal") or os.path.getsize(path + "-wal") == 0
    reopened = Journal(path)
    assert len(reopened.entries()) == 2 * WRITES_PER_CHECKPOINT + 5
    reopened.close()


def test_the_log_starts_over_while_writes_never_pause(tmp_path):
    """Under steady writes no passive checkpoint ever copies a log no write is adding to, so the log
    never started over (600 MB in 5 s from five writer threads). Past its limit the last pass holds
    the writers back, and the next write starts the log over."""
    import sqlite3

    from shotcaller.jobs.wal_checkpoints import BackgroundCheckpoints

    path = str(tmp_path / "steady.sqlite")
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("PRAGMA journal_size_limit=262144")
    db.execute("CREATE TABLE rows (n INTEGER PRIMARY KEY, body TEXT)")
    lock = threading.Lock()
    checkpoints = BackgroundCheckpoints(path, writes_per_checkpoint=20, hold=lock, restart_after_bytes=256 * 1024)
    body = "x" * 3000  # about a page a row: 5000 rows would make a 20 MB log that never starts over
    largest = 0
    for n in range(5000):
        with lock:
            db.execute("INSERT INTO rows VALUES (?, ?)", (n, body))
        checkpoints.wrote()
        if n % 50 == 0:
            largest = max(largest, os.path.getsize(path + "-wal"))
    checkpoints.close()
    assert checkpoints.done > 0
    assert largest < 8 * 1024 * 1024, largest
    assert db.execute("SELECT count(*) FROM rows").fetchone() == (5000,)
    db.close()
