import json
import threading

from backend_doubles import ScriptedBackend
from shotcaller.backends.base import BackendUnreachable, InvalidRequest, OutOfMemory
from shotcaller.jobs.events import TERMINAL_EVENTS, JobCancelled, JobFailed, JobRouted, JobSucceeded
from shotcaller.jobs.scheduler import Scheduler
from shotcaller.shots import make_spec


def spec(**overrides):
    fields = {"shot_id": "shot0001aaaa", "label": "Intro", "prompt": "a lighthouse at dusk"}
    fields.update(overrides)
    return make_spec(**fields)


def run_to_end(scheduler, job_id, timeout=10.0):
    seen = []
    while True:
        event = scheduler.events.get(timeout=timeout)
        if event.job_id == job_id:
            seen.append(event)
            if isinstance(event, TERMINAL_EVENTS):
                return seen


def test_success_produces_take_and_record(tmp_path):
    backend = ScriptedBackend("local")
    scheduler = Scheduler([backend])
    try:
        job_id = scheduler.submit(spec(), str(tmp_path), "intro_take")
        events = run_to_end(scheduler, job_id)
    finally:
        scheduler.shutdown(wait=True)
    done = events[-1]
    assert isinstance(done, JobSucceeded)
    assert done.take.files == (str(tmp_path / "intro_take.mp4"),)
    assert done.take.backend_instance == "local"
    assert "draft template for a draft shot" in done.take.routing_reason
    record = json.loads((tmp_path / "intro_take.take.json").read_text())
    assert record["take"]["take_id"] == done.take.take_id
    assert record["shot"]["prompt"] == "a lighthouse at dusk"
    assert scheduler.active_count == 0


def test_unreachable_fails_over_to_next_instance(tmp_path):
    first = ScriptedBackend("box-a", errors=[BackendUnreachable("connection refused")])
    second = ScriptedBackend("box-b")
    scheduler = Scheduler([first, second])
    try:
        events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    finally:
        scheduler.shutdown(wait=True)
    routed = [e for e in events if isinstance(e, JobRouted)]
    assert [e.backend for e in routed] == ["scripted 'box-a'", "scripted 'box-b'"]
    assert "connection refused" in routed[1].explanation
    assert isinstance(events[-1], JobSucceeded)
    assert events[-1].take.backend_instance == "box-b"
    # the dead instance is skipped by the next decision
    assert scheduler.router.health.unavailable_reason("box-a")


def test_user_error_never_fails_over(tmp_path):
    first = ScriptedBackend("box-a", errors=[InvalidRequest("the template is broken")])
    second = ScriptedBackend("box-b")
    scheduler = Scheduler([first, second])
    try:
        events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    finally:
        scheduler.shutdown(wait=True)
    assert isinstance(events[-1], JobFailed)
    assert events[-1].error_kind == "invalid_request"
    assert second.calls == []


def test_every_candidate_failing_names_each_failure(tmp_path):
    first = ScriptedBackend("box-a", errors=[OutOfMemory("out of VRAM")])
    second = ScriptedBackend("box-b", errors=[OutOfMemory("out of VRAM too")])
    scheduler = Scheduler([first, second])
    try:
        events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    finally:
        scheduler.shutdown(wait=True)
    failed = events[-1]
    assert isinstance(failed, JobFailed)
    assert "box-a" in failed.message and "box-b" in failed.message


def test_no_route_fails_at_once_with_reason(tmp_path):
    scheduler = Scheduler([ScriptedBackend("local")])
    try:
        job_id = scheduler.submit(spec(media="audio"), str(tmp_path), "s")
        event = scheduler.events.get(timeout=1)
    finally:
        scheduler.shutdown(wait=True)
    assert isinstance(event, JobFailed) and event.job_id == job_id
    assert "makes video, not audio" in event.message


def test_cancel_while_running(tmp_path):
    gate = threading.Event()
    scheduler = Scheduler([ScriptedBackend("local", block=gate)])
    try:
        job_id = scheduler.submit(spec(), str(tmp_path), "s")
        assert scheduler.cancel(job_id)
        events = run_to_end(scheduler, job_id)
    finally:
        gate.set()
        scheduler.shutdown(wait=True)
    assert isinstance(events[-1], JobCancelled)
    assert not list(tmp_path.glob("*.mp4"))


def test_workers_are_bounded_per_instance(tmp_path):
    gate = threading.Event()
    backend = ScriptedBackend("local", block=gate, max_concurrent=2)
    scheduler = Scheduler([backend])
    try:
        ids = [scheduler.submit(spec(shot_id=f"shot{i:08d}"), str(tmp_path), f"s{i}") for i in range(5)]
        deadline = threading.Event()
        deadline.wait(0.3)
        assert len(backend.calls) == 2
        gate.set()
        finished = {}
        while len(finished) < len(ids):
            event = scheduler.events.get(timeout=10)
            if isinstance(event, TERMINAL_EVENTS):
                finished[event.job_id] = event
        assert all(isinstance(finished[job_id], JobSucceeded) for job_id in ids)
    finally:
        gate.set()
        scheduler.shutdown(wait=True)
