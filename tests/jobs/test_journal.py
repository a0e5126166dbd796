import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

from backend_doubles import ScriptedBackend
from shotcaller.jobs.events import TERMINAL_EVENTS, JobSucceeded
from shotcaller.jobs.journal import JOURNAL_NAME, Journal
from shotcaller.jobs.scheduler import Scheduler
from shotcaller.shots import make_spec


def spec(**overrides):
    fields = {"shot_id": "shot0001aaaa", "label": "Intro", "prompt": "a lighthouse at dusk", "seed": 7}
    fields.update(overrides)
    return make_spec(**fields)


def finish(scheduler, job_id, timeout=10.0):
    while True:
        event = scheduler.events.get(timeout=timeout)
        if event.job_id == job_id and isinstance(event, TERMINAL_EVENTS):
            return event


def test_a_job_is_journaled_from_submission_to_its_take(tmp_path):
    journal = Journal.in_folder(str(tmp_path))
    backend = ScriptedBackend("box")
    scheduler = Scheduler([backend])
    try:
        job_id = scheduler.submit(spec(), str(tmp_path / "shot"), "intro_draft", journal=journal, context={"x": 1})
        assert isinstance(finish(scheduler, job_id), JobSucceeded)
    finally:
        scheduler.shutdown()
    entry = journal.get(job_id)
    assert entry is not None and entry.state == "done"
    assert entry.shot_id == "shot0001aaaa" and entry.segment == 0
    assert (entry.instance_id, entry.backend_kind, entry.offer) == ("box", "scripted", "t2v")
    assert entry.files and os.path.isfile(entry.files[0])
    assert entry.context == {"x": 1} and entry.request["prompt"] == "a lighthouse at dusk"
    assert entry.take is not None and entry.take["files"] == list(entry.files)
    assert entry.submitted_at <= entry.started_at <= entry.finished_at
    with sqlite3.connect(tmp_path / JOURNAL_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_every_committed_write_survives_kill_9(tmp_path):
    """A process killed right after a write leaves that write in the file (WAL, one transaction each)."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))!r})
        import tests.conftest
        from shotcaller.jobs.journal import Journal
        journal = Journal.in_folder({str(tmp_path)!r})
        journal.submitted("job1", "shot1", request={{}}, request_hash="h", output_dir="o", file_stem="s")
        journal.update("job1", state="accepted", server_job_id="prompt-42")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    entry = Journal.in_folder(str(tmp_path)).get("job1")
    assert entry is not None and (entry.state, entry.server_job_id) == ("accepted", "prompt-42")
    assert [e.job_id for e in Journal.in_folder(str(tmp_path)).unfinished()] == ["job1"]


def test_spending_is_summed_per_backend_across_sessions(tmp_path):
    first = Journal.in_folder(str(tmp_path))
    for job_id, kind, cost in (("a", "litellm", 0.04), ("b", "litellm", 0.04), ("c", "comfyui", 0.5)):
        first.submitted(job_id, "shot", request={}, request_hash=job_id, output_dir="", file_stem="")
        first.update(job_id, backend_kind=kind)
        first.add_cost(job_id, cost, "reported")
    first.close()
    again = Journal.in_folder(str(tmp_path))
    assert again.spending() == {"litellm": 0.08, "comfyui": 0.5}
    assert round(again.total_spent(), 6) == 0.58
