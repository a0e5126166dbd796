"""The pure parts of scheduling: slot boards, late-binding plans, rate limits and OOM step-down."""

import pytest

from backend_doubles import ScriptedBackend
from shotcaller.jobs.dispatch import SlotBoard, plan_dispatch
from shotcaller.jobs.limits import UNLIMITED, RateLimiter
from shotcaller.jobs.stepdown import MIN_FRAMES, step_down
from shotcaller.routing.registry import view_of
from shotcaller.routing.router import Router
from shotcaller.routing.stats import SpeedStats
from shotcaller.shots import make_spec


def spec(i=0, **overrides):
    fields = {"shot_id": f"shot{i:08d}", "prompt": "a lighthouse at dusk"}
    fields.update(overrides)
    return make_spec(**fields)


def test_slot_board_books_the_earliest_slot():
    board = SlotBoard.of(2, busy=[30.0])
    assert board.wait() == 0.0
    assert board.reserve(10.0) == 0.0  # the idle slot
    assert board.wait() == 10.0
    assert board.reserve(5.0) == 10.0
    assert sorted(board.free_in) == [15.0, 30.0]


def test_slot_board_rate_limit():
    board = SlotBoard.of(4, starts_allowed=1, rate_wait=45.0)
    assert board.reserve(10.0) == 0.0
    assert board.wait() == 45.0  # slots are free, the quota is not


def test_rate_limiter_sliding_window():
    limiter = RateLimiter(per_minute=2)
    assert limiter.allowed_now(0.0) == 2
    limiter.record(0.0)
    limiter.record(10.0)
    assert limiter.allowed_now(20.0) == 0
    assert limiter.wait_after_quota(20.0) == pytest.approx(40.0)
    assert limiter.allowed_now(60.0) == 1
    assert RateLimiter(0).allowed_now(0.0) == UNLIMITED and RateLimiter(0).wait_after_quota(0.0) == 0.0


def plan(jobs, fleet, boards, router):
    return list(plan_dispatch(jobs, boards, lambda job, waits: router.route(job, fleet, waits=waits)))


def test_plan_starts_jobs_where_they_finish_first_and_stops_when_nothing_can_start():
    speeds = SpeedStats()
    speeds.record("fast", "t2v", 1.0, 1.0)
    speeds.record("slow", "t2v", 3.0, 1.0)  # the 19.6-unit shot: 19.6 s on fast, 58.8 s on slow
    router = Router(speeds=speeds)
    fleet = [view_of(ScriptedBackend("slow")), view_of(ScriptedBackend("fast"))]
    boards = {"slow": SlotBoard.of(1), "fast": SlotBoard.of(1)}
    placements = plan([spec(i) for i in range(6)], fleet, boards, router)
    where = [(p.decision.chosen.instance_id, p.start_now) for p in placements]
    # fast now; fast again (waits 19.6 s, still ends at 39 s before slow's 59 s); slow now; then every slot
    # is taken or reserved with a later start, so planning stops
    assert where == [("fast", True), ("fast", False), ("slow", True)]


def test_plan_waits_for_a_busy_fast_instance_rather_than_start_on_a_very_slow_one():
    speeds = SpeedStats()
    speeds.record("fast", "t2v", 1.0, 1.0)
    speeds.record("slow", "t2v", 10.0, 1.0)
    router = Router(speeds=speeds)
    fleet = [view_of(ScriptedBackend("slow")), view_of(ScriptedBackend("fast"))]
    boards = {"slow": SlotBoard.of(1), "fast": SlotBoard.of(1, busy=[5.0])}
    (placement,) = plan([spec()], fleet, boards, router)
    assert placement.decision.chosen.instance_id == "fast" and not placement.start_now


def test_plan_reports_jobs_with_no_route():
    fleet = [view_of(ScriptedBackend("box"))]
    (placement,) = plan([spec(media="audio")], fleet, {"box": SlotBoard.of(1)}, Router())
    assert placement.decision.chosen is None and not placement.start_now


def test_step_down_resolution_first_then_frames_then_nothing():
    shot = spec(width=1280, height=720, frame_count=81)
    changes = []
    while (stepped := step_down(shot)) is not None:
        shot, change = stepped
        changes.append(change)
    assert changes == [
        "resolution 1280x720 -> 960x512",
        "resolution 960x512 -> 704x384",
        "resolution 704x384 -> 512x288",
        "frames 81 -> 41",
        "frames 41 -> 21",
        "frames 21 -> 17",
    ]
    assert shot.frame_count == MIN_FRAMES


def test_step_down_stills_only_lose_resolution():
    image = spec(media="image", width=384, height=384)
    smaller, change = step_down(image)
    assert change == "resolution 384x384 -> 288x288"
    assert step_down(smaller) is None  # 216 would be below the smallest side worth making


def test_step_down_keeps_4n_plus_1_frames():
    stepped = step_down(spec(width=256, height=256, frame_count=121))
    assert stepped is not None and stepped[0].frame_count == 61 and (stepped[0].frame_count - 1) % 4 == 0
