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
