import json
import queue
import threading
import time

import pytest

from backend_doubles import ScriptedBackend
from session_events import events_until_done as run_to_end
from shotcaller.backends.base import (
    BackendBusy,
    BackendUnreachable,
    InvalidRequest,
    MissingResource,
    Offer,
    OutOfMemory,
    ProtocolError,
)
from shotcaller.jobs.events import (
    TERMINAL_EVENTS,
    JobCancelled,
    JobFailed,
    JobProgress,
    JobRouted,
    JobSucceeded,
    describe,
)
from shotcaller.jobs.scheduler import Scheduler
from shotcaller.routing.decision_log import DecisionLog, read_log
from shotcaller.routing.health import BreakerState, CircuitBreakers
from shotcaller.routing.policy import RoutingPolicy
from shotcaller.routing.registry import CapabilityRegistry, InstanceConfig
from shotcaller.routing.router import Router
from shotcaller.shots import MediaKind, Quality, make_spec


def spec(**overrides):
    fields = {"shot_id": "shot0001aaaa", "label": "Intro", "prompt": "a lighthouse at dusk"}
    fields.update(overrides)
    return make_spec(**fields)


def run_all(scheduler, job_ids, timeout=20.0):
    finished, seen = {}, []
    while len(finished) < len(job_ids):
        event = scheduler.events.get(timeout=timeout)
        seen.append(event)
        if isinstance(event, TERMINAL_EVENTS):
            finished[event.job_id] = event
    return finished, seen


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def pool(*pairs, **kwargs):
    """A scheduler over backends with explicit instance configs."""
    registry = CapabilityRegistry([(b, InstanceConfig(b.kind, name=b.instance_id, **cfg)) for b, cfg in pairs])
    return Scheduler(registry=registry, **kwargs)


@pytest.fixture
def schedulers():
    made = []
    yield made
    for scheduler in made:
        scheduler.shutdown(wait=True)


def test_success_produces_take_and_record(tmp_path, schedulers):
    backend = ScriptedBackend("local")
    scheduler = Scheduler([backend])
    schedulers.append(scheduler)
    job_id = scheduler.submit(spec(), str(tmp_path), "intro_take")
    events = run_to_end(scheduler, job_id)
    done = events[-1]
    assert isinstance(done, JobSucceeded)
    assert done.take.files == (str(tmp_path / "intro_take.mp4"),)
    assert done.take.backend_instance == "local"
    assert "draft template for a draft shot" in done.take.routing_reason
    record = json.loads((tmp_path / "intro_take.take.json").read_text())
    assert record["take"]["take_id"] == done.take.take_id
    assert record["shot"]["prompt"] == "a lighthouse at dusk"
    assert record["routing"]["chosen"] == {"instance": "local", "offer": "t2v"}
    routed = next(e for e in events if isinstance(e, JobRouted))
    assert routed.candidates[0].accepted and routed.instance_id == "local" and routed.expected_seconds > 0
    assert scheduler.active_count == 0


def test_measured_speed_is_recorded(tmp_path, schedulers):
    scheduler = Scheduler([ScriptedBackend("local", seconds=0.05)])
    schedulers.append(scheduler)
    run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    assert scheduler.router.speeds.estimate("local", Offer("t2v", MediaKind.VIDEO, Quality.DRAFT)).source == "measured"


def test_unreachable_fails_over_to_next_instance(tmp_path, schedulers):
    first = ScriptedBackend("box-a", errors=[BackendUnreachable("connection refused")])
    second = ScriptedBackend("box-b")
    scheduler = Scheduler([first, second])
    schedulers.append(scheduler)
    events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    routed = [e for e in events if isinstance(e, JobRouted)]
    assert [e.backend for e in routed] == ["scripted 'box-a'", "scripted 'box-b'"]
    assert [e.attempt for e in routed] == [1, 2]
    assert routed[1].explanation.startswith("Fell back after scripted on box-a with test video (connection refused).")
    assert any(isinstance(e, JobProgress) and "; trying scripted on box-b" in e.message for e in events)
    assert isinstance(events[-1], JobSucceeded)
    assert events[-1].take.backend_instance == "box-b"
    # the dead instance's breaker is open: the next decision skips it
    assert scheduler.health.state("box-a") is BreakerState.OPEN
    assert scheduler.route_preview(spec()).chosen.instance_id == "box-b"


@pytest.mark.parametrize(
    "error", [BackendBusy("queue full"), ProtocolError("garbage"), MissingResource("model file 'x' is missing")]
)
def test_other_failover_errors_move_the_job(tmp_path, schedulers, error):
    first, second = ScriptedBackend("box-a", errors=[error]), ScriptedBackend("box-b")
    scheduler = Scheduler([first, second])
    schedulers.append(scheduler)
    events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    assert isinstance(events[-1], JobSucceeded) and events[-1].take.backend_instance == "box-b"


def test_missing_model_is_remembered_for_the_next_shots(tmp_path, schedulers):
    first = ScriptedBackend("box-a", errors=[MissingResource("model file 'wan.safetensors' is missing")])
    scheduler = Scheduler([first, ScriptedBackend("box-b")])
    schedulers.append(scheduler)
    run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    preview = scheduler.route_preview(spec())
    assert "scripted on box-a skipped: model file 'wan.safetensors' is missing" in preview.explanation


def test_busy_single_instance_is_retried_after_a_pause(tmp_path, schedulers):
    backend = ScriptedBackend("only", errors=[BackendBusy("rate limited")])
    scheduler = Scheduler([backend], busy_backoff=0.05)
    schedulers.append(scheduler)
    events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    assert isinstance(events[-1], JobSucceeded) and len(backend.calls) == 2


def test_user_error_never_fails_over(tmp_path, schedulers):
    first = ScriptedBackend("box-a", errors=[InvalidRequest("the template is broken")])
    second = ScriptedBackend("box-b")
    scheduler = Scheduler([first, second])
    schedulers.append(scheduler)
    events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    assert isinstance(events[-1], JobFailed)
    assert events[-1].error_kind == "invalid_request"
    assert second.calls == []


def test_out_of_memory_everywhere_steps_resolution_down_and_says_so(tmp_path, schedulers):
    first = ScriptedBackend("box-a", errors=[OutOfMemory("out of VRAM")])
    second = ScriptedBackend("box-b", errors=[OutOfMemory("out of VRAM too")])
    scheduler = Scheduler([first, second])
    schedulers.append(scheduler)
    events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    routed = [e for e in events if isinstance(e, JobRouted)]
    assert [e.backend for e in routed] == ["scripted 'box-a'", "scripted 'box-b'", "scripted 'box-a'"]
    assert routed[1].adjustments == ""  # another instance first, at the same settings
    assert routed[2].adjustments == "resolution 832x480 -> 608x352 after running out of memory on scripted on box-b"
    assert routed[2].explanation.endswith(f"Settings changed: {routed[2].adjustments}.")
    assert "Settings changed: resolution 832x480 -> 608x352" in describe(routed[2])
    done = events[-1]
    assert isinstance(done, JobSucceeded)
    assert (first.calls[-1].spec.width, first.calls[-1].spec.height) == (608, 352)
    assert "Settings changed: resolution 832x480 -> 608x352" in done.take.routing_reason


def test_no_instance_with_the_memory_steps_down_before_the_first_attempt(tmp_path, schedulers):
    offer = Offer(
        "wan5b", MediaKind.VIDEO, Quality.DRAFT, label="TI2V 5B", vram_base_gb=4.0, vram_per_megapixel_frame_gb=0.5
    )  # 832x480x49: ~13.8 GB; 608x352x49: ~9.2 GB
    backend = ScriptedBackend("small", [offer])
    scheduler = pool((backend, {"vram_gb": 10.0}))
    schedulers.append(scheduler)
    events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    routed = next(e for e in events if isinstance(e, JobRouted))
    assert routed.adjustments.startswith(
        "resolution 832x480 -> 608x352 no backend has the memory at 832x480 "
        "(scripted on small: its TI2V 5B needs ~13.8 GB"
    )
    assert isinstance(events[-1], JobSucceeded)


def test_attempts_are_bounded(tmp_path, schedulers):
    errors = [OutOfMemory("out of VRAM")] * 20
    first, second = ScriptedBackend("box-a", errors=errors), ScriptedBackend("box-b", errors=list(errors))
    scheduler = Scheduler([first, second], max_attempts=4)
    schedulers.append(scheduler)
    events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    failed = events[-1]
    assert isinstance(failed, JobFailed)
    assert failed.message.startswith("gave up after 4 attempts:")
    assert "box-a" in failed.message and "box-b" in failed.message
    assert len(first.calls) + len(second.calls) == 4


def test_failing_everywhere_ends_with_every_failure_named(tmp_path, schedulers):
    first = ScriptedBackend("box-a", errors=[BackendUnreachable("connection refused")])
    second = ScriptedBackend("box-b", errors=[MissingResource("model missing")])
    scheduler = Scheduler([first, second])
    schedulers.append(scheduler)
    failed = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))[-1]
    assert isinstance(failed, JobFailed) and failed.error_kind == "missing_resource"  # the last failure's kind
    assert failed.message.startswith("every backend failed: scripted on box-a with test video (connection refused);")
    assert "model missing" in failed.message


def test_only_instance_unreachable_fails_with_its_own_message_and_hint(tmp_path, schedulers):
    down = BackendUnreachable("nothing is listening at http://127.0.0.1:9", hint="Is ComfyUI running?")
    scheduler = Scheduler([ScriptedBackend("local", errors=[down])])
    schedulers.append(scheduler)
    failed = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))[-1]
    assert isinstance(failed, JobFailed) and failed.error_kind == "unreachable"
    assert failed.text == "scripted 'local': nothing is listening at http://127.0.0.1:9. Is ComfyUI running?"


def test_no_route_fails_at_once_with_reason(tmp_path, schedulers):
    scheduler = Scheduler([ScriptedBackend("local")])
    schedulers.append(scheduler)
    job_id = scheduler.submit(spec(media="audio"), str(tmp_path), "s")
    event = scheduler.events.get(timeout=1)
    assert isinstance(event, JobFailed) and event.job_id == job_id
    assert "makes video, not audio" in event.message


def test_cancel_while_running(tmp_path, schedulers):
    gate = threading.Event()
    scheduler = Scheduler([ScriptedBackend("local", block=gate)])
    schedulers.append(scheduler)
    job_id = scheduler.submit(spec(), str(tmp_path), "s")
    assert scheduler.cancel(job_id)
    events = run_to_end(scheduler, job_id)
    gate.set()
    assert isinstance(events[-1], JobCancelled)
    assert not list(tmp_path.glob("*.mp4"))


def test_cancel_while_queued_never_runs(tmp_path, schedulers):
    gate = threading.Event()
    backend = ScriptedBackend("local", block=gate)
    scheduler = Scheduler([backend])
    schedulers.append(scheduler)
    first = scheduler.submit(spec(), str(tmp_path), "a")
    second = scheduler.submit(spec(shot_id="shot0002bbbb"), str(tmp_path), "b")
    assert scheduler.cancel(second)
    events = run_to_end(scheduler, second)
    assert isinstance(events[-1], JobCancelled) and events[-1].message == "cancelled before it started"
    gate.set()
    run_to_end(scheduler, first)
    assert [c.file_stem for c in backend.calls] == ["a"]


class CountWitness(queue.Queue):
    """The scheduler's events queue, noting every job still counted active when its end goes out
    (read on the thread that puts the event, so nothing can run in between)."""

    def __init__(self):
        super().__init__()
        self.scheduler: Scheduler | None = None
        self.still_active: list[tuple[str, str]] = []

    def put(self, event, block=True, timeout=None):
        super().put(event, block, timeout)
        if isinstance(event, TERMINAL_EVENTS) and event.job_id in self.scheduler.active_job_ids():
            self.still_active.append((type(event).__name__, event.job_id))


def test_cancel_all_is_one_pass_over_the_queue(tmp_path, schedulers, monkeypatch):
    """1000 queued jobs: every one ends cancelled, and no job is compared with another (the old
    cancel-all searched the queue once per job: jobs x queue comparisons)."""
    from shotcaller.jobs.attempts import JobState

    gate, witness = threading.Event(), CountWitness()
    scheduler = Scheduler([ScriptedBackend("local", block=gate)], events=witness)
    witness.scheduler = scheduler
    schedulers.append(scheduler)
    ids = [scheduler.submit(spec(shot_id=f"shot{i:08d}"), str(tmp_path), f"s{i}") for i in range(1000)]
    comparisons = []
    original = JobState.__eq__
    monkeypatch.setattr(JobState, "__eq__", lambda a, b: comparisons.append(1) or original(a, b))
    assert scheduler.cancel_all() == 1000
    assert comparisons == []
    finished, _ = run_all(scheduler, ids)  # the one running sees its cancel while it waits on the gate
    gate.set()
    assert all(isinstance(event, JobCancelled) for event in finished.values())
    # The running one and the one the intake was taking in stopped counting before their events
    # (the intake's came with the count still 1: the count was 1 after the last event, under load).
    assert witness.still_active == [] and scheduler.active_count == 0


def test_a_job_ended_as_it_is_taken_in_stops_counting_before_its_event_is_out(tmp_path, schedulers):
    """Served from the cache or with no route, a job ends on the intake thread while the intake still
    lists it: counted active after its event, a caller that reads the event and then the count (Cancel
    All's test) saw one job left."""
    from shotcaller.jobs.journal import Journal

    witness = CountWitness()
    scheduler = Scheduler([ScriptedBackend("local")], events=witness)
    witness.scheduler = scheduler
    schedulers.append(scheduler)
    journal = Journal(str(tmp_path / "journal.sqlite"))
    made = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "one", journal=journal))[-1]
    cached = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "two", journal=journal))[-1]
    hopeless = run_to_end(scheduler, scheduler.submit(spec(media="audio"), str(tmp_path), "three"))[-1]
    assert isinstance(made, JobSucceeded) and isinstance(cached, JobSucceeded)
    assert cached.take.cost_source == "cache" and isinstance(hopeless, JobFailed)
    assert witness.still_active == []  # [('JobSucceeded', <the cached one>), ('JobFailed', ...)] before


def test_cancel_now_names_the_queued_jobs_it_ended_and_journals_them_before_their_events(tmp_path, schedulers):
    """The caller (Cancel All) shows the queued ones cancelled at once; the journal rows are written
    off the caller's thread, and each event comes only after its row says cancelled."""
    from shotcaller.jobs.journal import Journal

    gate = threading.Event()
    journal = Journal(str(tmp_path / "journal.sqlite"))
    backend = ScriptedBackend("local", block=gate)
    scheduler = Scheduler([backend])
    schedulers.append(scheduler)
    ids = [
        scheduler.submit(spec(shot_id=f"shot{i:08d}", prompt=f"shot {i}"), str(tmp_path), f"s{i}", journal=journal)
        for i in range(5)
    ]
    wait_until(lambda: len(backend.calls) == 1)  # one slot: the other four wait in the queue
    outcome = scheduler.cancel_now(ids)
    assert outcome.asked == 5 and len(outcome.ended) == 4 and outcome.message == "cancelled before it started"
    running = next(job_id for job_id in ids if job_id not in outcome.ended)
    ended, running_events = set(outcome.ended), []
    while ended:
        event = scheduler.events.get(timeout=10)
        if event.job_id == running:  # told to stop too: it may end before the queued ones' events are all read
            running_events.append(event)
        if event.job_id in ended:
            assert isinstance(event, JobCancelled) and event.message == outcome.message
            assert journal.get(event.job_id).state == "cancelled"  # written before the event
            ended.discard(event.job_id)
    # The queued ones counted until their rows were written (the running one may have ended by now).
    assert set(scheduler.active_job_ids()) <= {running}
    if not any(isinstance(event, TERMINAL_EVENTS) for event in running_events):
        running_events += run_to_end(scheduler, running)
    assert isinstance(running_events[-1], JobCancelled)  # told, and stops at its backend
    gate.set()


def test_cancel_many_ignores_unknown_and_repeated_ids(tmp_path, schedulers):
    gate = threading.Event()
    scheduler = Scheduler([ScriptedBackend("local", block=gate)])
    schedulers.append(scheduler)
    first = scheduler.submit(spec(), str(tmp_path), "a")
    second = scheduler.submit(spec(shot_id="shot0002bbbb"), str(tmp_path), "b")
    assert scheduler.cancel_many([second, second, "no-such-job"]) == 1
    assert isinstance(run_to_end(scheduler, second)[-1], JobCancelled)
    gate.set()
    assert isinstance(run_to_end(scheduler, first)[-1], JobSucceeded)


def test_workers_are_bounded_per_instance(tmp_path, schedulers):
    gate = threading.Event()
    backend = ScriptedBackend("local", block=gate, max_concurrent=2)
    scheduler = Scheduler([backend])
    schedulers.append(scheduler)
    ids = [scheduler.submit(spec(shot_id=f"shot{i:08d}"), str(tmp_path), f"s{i}") for i in range(5)]
    time.sleep(0.3)
    assert len(backend.calls) == 2
    gate.set()
    finished, _ = run_all(scheduler, ids)
    assert all(isinstance(finished[job_id], JobSucceeded) for job_id in ids)
    assert backend.max_running == 2


def test_pool_spreads_work_over_idle_instances_by_load(tmp_path, schedulers):
    gate = threading.Event()
    boxes = [ScriptedBackend(f"box-{i}", block=gate) for i in range(3)]
    scheduler = pool(*[(b, {}) for b in boxes])
    schedulers.append(scheduler)
    ids = [scheduler.submit(spec(shot_id=f"shot{i:08d}"), str(tmp_path), f"s{i}") for i in range(6)]
    wait_until(lambda: sum(len(b.calls) for b in boxes) == 3)
    time.sleep(0.1)
    assert [len(b.calls) for b in boxes] == [1, 1, 1]  # one each, the other three wait for a free slot
    gate.set()
    finished, _ = run_all(scheduler, ids)
    assert all(isinstance(e, JobSucceeded) for e in finished.values())
    assert sum(len(b.calls) for b in boxes) == 6


def test_pool_sends_more_work_to_the_instance_measured_faster(tmp_path, schedulers):
    fast, slow = ScriptedBackend("fast", seconds=0.02), ScriptedBackend("slow", seconds=0.3)
    scheduler = pool((slow, {}), (fast, {}))
    schedulers.append(scheduler)
    ids = [scheduler.submit(spec(shot_id=f"shot{i:08d}"), str(tmp_path), f"s{i}") for i in range(12)]
    finished, _ = run_all(scheduler, ids)
    assert all(isinstance(e, JobSucceeded) for e in finished.values())
    assert len(fast.calls) > 2 * len(slow.calls)


def test_slots_from_the_instance_config(tmp_path, schedulers):
    backend = ScriptedBackend("box", seconds=0.2)
    scheduler = pool((backend, {"slots": 3}))
    schedulers.append(scheduler)
    ids = [scheduler.submit(spec(shot_id=f"shot{i:08d}"), str(tmp_path), f"s{i}") for i in range(7)]
    run_all(scheduler, ids)
    assert backend.max_running == 3


def test_rate_limit_holds_back_starts_and_spills_to_the_next_instance(tmp_path, schedulers):
    gate = threading.Event()
    limited = ScriptedBackend("limited", block=gate, max_concurrent=5)
    other = ScriptedBackend("other", block=gate)
    scheduler = pool((limited, {"slots": 5, "rate_limit_per_minute": 2}), (other, {}))
    schedulers.append(scheduler)
    ids = [scheduler.submit(spec(shot_id=f"shot{i:08d}"), str(tmp_path), f"s{i}") for i in range(4)]
    time.sleep(0.4)
    assert len(limited.calls) == 2  # free slots left, but the quota is used up for this minute
    assert len(other.calls) == 1  # the third shot went to the other instance instead of waiting a minute
    assert scheduler.active_count == 4  # the fourth waits for a slot
    gate.set()
    finished, _ = run_all(scheduler, ids)
    assert all(isinstance(e, JobSucceeded) for e in finished.values())


def test_half_open_instance_gets_one_probe_job_then_the_rest(tmp_path, schedulers):
    gate = threading.Event()
    backend = ScriptedBackend("box", block=gate, max_concurrent=2)
    health = CircuitBreakers(cooldown_seconds=0.0)
    health.record_failure("box", "connection refused", decisive=True)  # cooled down at once: half-open
    scheduler = pool((backend, {"slots": 2}), router=Router(health))
    schedulers.append(scheduler)
    ids = [scheduler.submit(spec(shot_id=f"shot{i:08d}"), str(tmp_path), f"s{i}") for i in range(2)]
    time.sleep(0.3)
    assert len(backend.calls) == 1  # only the probe job
    gate.set()
    finished, _ = run_all(scheduler, ids)
    assert all(isinstance(e, JobSucceeded) for e in finished.values())
    assert health.state("box") is BreakerState.CLOSED


def test_force_local_policy_keeps_jobs_off_the_cloud(tmp_path, schedulers):
    cloud, here = ScriptedBackend("cloud"), ScriptedBackend("here", seconds=0.05)
    scheduler = pool((cloud, {"url": "https://api.example.com", "is_local": False}), (here, {}))
    schedulers.append(scheduler)
    gate_free = [
        scheduler.submit(spec(shot_id=f"shot{i:08d}"), str(tmp_path), f"s{i}", policy=RoutingPolicy(force_local=True))
        for i in range(3)
    ]
    run_all(scheduler, gate_free)
    assert cloud.calls == [] and len(here.calls) == 3


def test_budget_stops_paid_work_when_spent(tmp_path, schedulers):
    paid = ScriptedBackend("paid")
    scheduler = pool((paid, {"cost_per_shot": 1.0}), policy=RoutingPolicy(budget=1.5))
    schedulers.append(scheduler)
    assert isinstance(run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "a"))[-1], JobSucceeded)
    assert scheduler.spent == pytest.approx(1.0)
    failed = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "b"))[-1]
    assert isinstance(failed, JobFailed)
    assert "would cost ~1.00 and 0.50 of the project's budget is left" in failed.message


def test_every_binding_is_written_to_the_decision_log(tmp_path, schedulers):
    log_path = tmp_path / "decisions.jsonl"
    first = ScriptedBackend("box-a", errors=[BackendUnreachable("connection refused")])
    scheduler = Scheduler([first, ScriptedBackend("box-b")], decision_log=DecisionLog(str(log_path)))
    schedulers.append(scheduler)
    run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    hopeless = run_to_end(scheduler, scheduler.submit(spec(media="audio"), str(tmp_path), "t"))
    assert isinstance(hopeless[-1], JobFailed) and hopeless[-1].error_kind == "no_route"
    scheduler.shutdown(wait=True)
    records = list(read_log(str(log_path)))
    assert [(r["event"], r["attempt"], (r["chosen"] or {}).get("instance")) for r in records] == [
        ("routed", 1, "box-a"),
        ("routed", 2, "box-b"),
        ("no_route", 0, None),
    ]
    excluded = records[1]["rejected"]["excluded"]  # rejections are grouped by filter
    assert excluded["reason"].startswith("already failed this job") and excluded["where"] == ["box-a/t2v"]


def test_each_job_logs_to_its_own_projects_decision_log(tmp_path, schedulers):
    shared, project_a, project_b = (tmp_path / name for name in ("shared.jsonl", "a.jsonl", "b.jsonl"))
    scheduler = Scheduler([ScriptedBackend("box")], decision_log=DecisionLog(str(shared)))
    schedulers.append(scheduler)
    first = scheduler.submit(spec(), str(tmp_path), "a", decision_log=DecisionLog(str(project_a)))
    second = scheduler.submit(
        spec(shot_id="shot0002bbbb"), str(tmp_path), "b", decision_log=DecisionLog(str(project_b))
    )
    run_to_end(scheduler, first)
    run_to_end(scheduler, second)
    run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "c"))  # no log of its own: the scheduler's
    scheduler.shutdown(wait=True)
    assert [r["job_id"] for r in read_log(str(project_a))] == [first]
    assert [r["job_id"] for r in read_log(str(project_b))] == [second]
    assert len(list(read_log(str(shared)))) == 1


def test_fleet_status_reports_load_and_health(tmp_path, schedulers):
    gate = threading.Event()
    scheduler = Scheduler([ScriptedBackend("box", block=gate)])
    schedulers.append(scheduler)
    job_id = scheduler.submit(spec(), str(tmp_path), "s")
    wait_until(lambda: scheduler.fleet_status()[0].in_flight == 1)
    (report,) = scheduler.fleet_status()
    assert (report.status.instance_id, report.in_flight, report.breaker) == ("box", 1, "closed")
    gate.set()
    run_to_end(scheduler, job_id)
    assert "t2v" in scheduler.fleet_status()[0].seconds_per_unit


def test_submit_after_shutdown_is_refused(schedulers):
    scheduler = Scheduler([ScriptedBackend("box")])
    scheduler.shutdown(wait=True)
    with pytest.raises(RuntimeError):
        scheduler.submit(spec(), "/tmp", "s")


def test_an_address_level_failure_is_not_retried_there_with_another_template(tmp_path, schedulers):
    offers = [
        Offer("t2v", MediaKind.VIDEO, Quality.DRAFT, label="test video"),
        Offer("t2v_other", MediaKind.VIDEO, Quality.DRAFT, label="other video"),
    ]
    not_found = ProtocolError("ComfyUI at http://box-a:8188/prompt has no POST /prompt endpoint (HTTP 404)")
    not_found.address_failure = True
    broken = ScriptedBackend("box-a", offers, errors=[not_found, not_found])
    scheduler = Scheduler([broken])
    schedulers.append(scheduler)
    events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "s"))
    assert [e.template for e in events if isinstance(e, JobRouted)] == ["t2v"]  # once, not once per template
    assert isinstance(events[-1], JobFailed) and "HTTP 404" in events[-1].message

    plain = ScriptedBackend("box-b", offers, errors=[ProtocolError("garbage")])
    scheduler = Scheduler([plain])
    schedulers.append(scheduler)
    events = run_to_end(scheduler, scheduler.submit(spec(), str(tmp_path), "t"))
    assert len([e for e in events if isinstance(e, JobRouted)]) == 2  # any other failure may try the other one
    assert isinstance(events[-1], JobSucceeded)
