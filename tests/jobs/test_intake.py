"""Submitting is a queue append: the journal row, the cache lookup and routing happen on the intake
thread, so the main thread never waits for the disk or for the dispatcher's lock."""

import threading

from backend_doubles import ScriptedBackend
from session_events import ends_of as ends
from session_events import events_until_done as run_to_end
from shotcaller.jobs.events import JobCancelled, JobFailed, JobSucceeded
from shotcaller.jobs.journal import Journal
from shotcaller.jobs.scheduler import Scheduler
from shotcaller.shots import make_spec


def spec(n=0):
    return make_spec(shot_id=f"shot{n:08d}", label=f"Shot {n}", prompt=f"a lighthouse at dusk, take {n}", seed=7)


class GatedJournal(Journal):
    """A journal whose first submitted row waits for a gate: the intake thread is busy with it."""

    def __init__(self, path, gate):
        super().__init__(path)
        self.gate, self.first, self.entered = gate, True, threading.Event()

    def submitted_many(self, rows):
        if self.first:
            self.first = False
            self.entered.set()
            self.gate.wait(10)
        super().submitted_many(rows)


class BrokenJournal(Journal):
    def submitted_many(self, rows):
        raise RuntimeError("the journal exploded")


def test_submit_neither_waits_for_the_dispatchers_lock_nor_the_disk(tmp_path):
    gate = threading.Event()
    journal = GatedJournal(str(tmp_path / "journal.sqlite"), gate)
    scheduler = Scheduler([ScriptedBackend("box")])
    try:
        submitted = []
        with scheduler._cond:  # the dispatcher planning a long queue holds this
            submitter = threading.Thread(
                target=lambda: submitted.extend(
                    scheduler.submit(spec(n), str(tmp_path), f"s{n}", journal=journal) for n in range(3)
                )
            )
            submitter.start()
            submitter.join(10)
            assert not submitter.is_alive() and len(submitted) == 3
        assert scheduler.active_job_ids() == submitted  # active before the intake has taken them in
        gate.set()
        assert all(isinstance(e, JobSucceeded) for e in ends(scheduler, submitted).values())
        assert [journal.get(job_id).state for job_id in submitted] == ["done"] * 3
    finally:
        gate.set()
        scheduler.shutdown()


def test_cancelling_jobs_not_yet_taken_in(tmp_path):
    gate = threading.Event()
    journal = GatedJournal(str(tmp_path / "journal.sqlite"), gate)
    backend = ScriptedBackend("box")
    scheduler = Scheduler([backend])
    try:
        first, *waiting = [scheduler.submit(spec(n), str(tmp_path), f"s{n}", journal=journal) for n in range(3)]
        assert journal.entered.wait(10)  # the first is being taken in, the other two wait behind it
        outcome = scheduler.cancel_now([first, *waiting])
        # The two still waiting end at once, for the caller to show; the one being taken in is told.
        assert outcome.asked == 3 and outcome.ended == waiting
        gate.set()
        ended = ends(scheduler, [first, *waiting])
        assert all(isinstance(e, JobCancelled) for e in ended.values())
        assert [journal.get(job_id).state for job_id in (first, *waiting)] == ["cancelled"] * 3
        assert backend.calls == []  # no server ever saw them
        assert scheduler.active_job_ids() == []
    finally:
        gate.set()
        scheduler.shutdown()


def test_a_job_that_cannot_be_taken_in_fails_with_a_message(tmp_path):
    scheduler = Scheduler([ScriptedBackend("box")])
    try:
        journal = BrokenJournal(str(tmp_path / "journal.sqlite"))
        failed = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s", journal=journal))[-1]
        assert isinstance(failed, JobFailed) and "could not queue the shot: the journal exploded" in failed.message
        job_id = scheduler.submit(spec(1), str(tmp_path), "t")  # the intake goes on with the next one
        assert isinstance(run_to_end(scheduler, job_id)[-1], JobSucceeded)
    finally:
        scheduler.shutdown()


def test_a_job_being_taken_in_is_active_throughout(tmp_path):
    """Counting active jobs reads two places (the intake, the scheduler's jobs); a job moving from one
    to the other between the two reads must still be counted, or the pump stops with it in flight
    (seen in Blender tests: a shot left saying queued)."""
    gate = threading.Event()
    journal = GatedJournal(str(tmp_path / "journal.sqlite"), gate)
    scheduler = Scheduler([ScriptedBackend("box", seconds=0.5)])
    intake, real_ids = scheduler._intake, scheduler._intake.ids

    def ids_once_taken_in():  # the intake thread finishes taking the job in during the count
        gate.set()
        while real_ids():
            threading.Event().wait(0.005)
        return real_ids()

    try:
        job_id = scheduler.submit(spec(), str(tmp_path), "s", journal=journal)
        assert journal.entered.wait(10)  # the intake thread holds the job
        intake.ids = ids_once_taken_in
        assert scheduler.active_job_ids() == [job_id]
        intake.ids = real_ids
        assert isinstance(ends(scheduler, [job_id])[job_id], JobSucceeded)
    finally:
        gate.set()
        scheduler.shutdown()
