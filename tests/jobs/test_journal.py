import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass

from backend_doubles import ScriptedBackend
from session_events import end_of as finish
from shotcaller.backends.base import MediaKind, Offer, Quality
from shotcaller.jobs.events import TERMINAL_EVENTS, JobFailed, JobSucceeded
from shotcaller.jobs.journal import JOURNAL_NAME, Journal
from shotcaller.jobs.scheduler import Scheduler
from shotcaller.shots import make_spec


def spec(**overrides):
    fields = {"shot_id": "shot0001aaaa", "label": "Intro", "prompt": "a lighthouse at dusk", "seed": 7}
    fields.update(overrides)
    return make_spec(**fields)


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


def test_cancel_all_marks_every_queued_row_with_a_few_writes(tmp_path):
    """1200 queued jobs cancelled at once: every row says cancelled, written in one statement per
    500 rows (a write per job made cancel-all of 1000 shots cost the UI a write and a thread switch each)."""
    import threading

    journal = Journal.in_folder(str(tmp_path))
    gate = threading.Event()
    scheduler = Scheduler([ScriptedBackend("box", block=gate)])
    try:
        ids = [
            scheduler.submit(spec(shot_id=f"shot{i:08d}"), str(tmp_path / "s"), f"s{i}", journal=journal)
            for i in range(1200)
        ]
        statements = []
        journal._db.set_trace_callback(statements.append)  # every statement SQLite runs from here on
        assert scheduler.cancel_all() == 1200
        ended = {}
        while len(ended) < len(ids):  # the running one sees its cancel while it waits on the gate
            event = scheduler.events.get(timeout=10)
            if isinstance(event, TERMINAL_EVENTS):
                ended[event.job_id] = event
        journal._db.set_trace_callback(None)  # the queued ones' rows are written before their events
        updates = [s for s in statements if s.startswith("UPDATE")]
        # The queued ones (and those not yet taken in: their rows first, in one transaction) in 3
        # chunks; at most the running one's routing, start and cancel, and the one being taken in.
        assert len(updates) <= 3 + 4
    finally:
        gate.set()
        scheduler.shutdown()
    states = {journal.get(job_id).state for job_id in ids}
    assert states == {"cancelled"}
    queued = [journal.get(job_id) for job_id in ids[2:]]
    assert {e.message for e in queued} == {"cancelled before it started"} and all(e.finished_at for e in queued)


def test_update_many_sets_only_the_named_rows(tmp_path):
    journal = Journal.in_folder(str(tmp_path))
    for name in ("a", "b", "c"):
        journal.submitted(name, "shot", request={}, request_hash="h", output_dir="o", file_stem=name)
    journal.update_many(["a", "c"], state="cancelled", message="stop")
    assert [journal.get(n).state for n in "abc"] == ["cancelled", "queued", "cancelled"]
    try:
        journal.update_many(["a"], colour="red")
    except ValueError as exc:
        assert "colour" in str(exc)
    else:
        raise AssertionError("an unknown column must be refused")


def test_a_shot_no_server_can_make_is_journaled_failed_with_why(tmp_path):
    """Its row said queued: after a crash the shot would be reported as one Blender closed on before any
    server accepted it, rather than one no server could make."""
    journal = Journal.in_folder(str(tmp_path))
    scheduler = Scheduler([ScriptedBackend("box")])
    try:
        job_id = scheduler.submit(spec(media="audio"), str(tmp_path / "s"), "s", journal=journal)
        event = finish(scheduler, job_id)
    finally:
        scheduler.shutdown()
    assert isinstance(event, JobFailed) and event.error_kind == "no_route"
    entry = journal.get(job_id)
    assert entry is not None and entry.state == "failed" and entry.finished_at
    assert "makes video, not audio" in entry.message


def test_a_job_whose_journal_cannot_be_written_still_ends(tmp_path):
    """The intake's journal write fails (the disk is full, the file was removed): the shot fails with
    what went wrong instead of saying queued forever, and the scheduler goes on."""
    journal = Journal.in_folder(str(tmp_path))
    journal._db.close()  # every later write raises, as a journal on a vanished disk does
    event = end_then_another(ScriptedBackend("box"), spec(), tmp_path, journal=journal)
    assert isinstance(event, JobFailed) and "could not queue the shot" in event.text


def end_then_another(backend, first, tmp_path, **submitted):
    """The end of `first`, once the next job (a plain one) has been made too: the scheduler went on."""
    scheduler = Scheduler([backend])
    try:
        event = finish(scheduler, scheduler.submit(first, str(tmp_path / "s"), "s", **submitted))
        other = scheduler.submit(spec(shot_id="shot0002bbbb"), str(tmp_path / "s2"), "s2")
        assert isinstance(finish(scheduler, other), JobSucceeded)
    finally:
        scheduler.shutdown()
    return event


@dataclass(frozen=True)
class BrokenEstimateOffer(Offer):
    """An offer whose memory estimate raises for one width (a bug in a client's model table)."""

    def estimate_vram_gb(self, width, height, frames):
        if width == 1234:
            raise RuntimeError("the memory table is broken")
        return super().estimate_vram_gb(width, height, frames)


def test_a_job_routing_cannot_handle_still_ends_and_the_next_is_routed(tmp_path):
    offer = BrokenEstimateOffer("t2v", MediaKind.VIDEO, Quality.DRAFT, label="test video")
    event = end_then_another(ScriptedBackend("box", [offer]), spec(width=1234), tmp_path)
    assert isinstance(event, JobFailed) and "could not route the shot: the memory table is broken" in event.text
