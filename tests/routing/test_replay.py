"""Decision log and A/B replay: write, read back (tolerating a torn line), replay under another strategy."""

import json

import pytest

from shotcaller.routing import replay as replay_module
from shotcaller.routing.decision_log import DecisionLog, read_log
from shotcaller.routing.replay import STRATEGIES, load_shots, replay


def record(job, chosen, options, submitted=0.0, quality="draft", event="routed"):
    """A decision-log line as the scheduler writes it (the fields replay reads)."""
    return {
        "event": event,
        "job_id": job,
        "shot_id": f"shot-{job}",
        "label": f"Shot {job}",
        "attempt": 1,
        "submitted_at": 1000.0 + submitted,
        "quality": quality,
        "chosen": {"instance": chosen, "offer": "wan5b"},
        "candidates": [
            {
                "instance": name,
                "offer": "wan5b",
                "slots": 1,
                "accepted": True,
                "run_seconds": seconds,
                "cost": 0.0,
                "tier": 0,
                "quality": 0.0,
            }
            for name, seconds in options.items()
        ]
        + [{"instance": "img", "offer": "flux", "slots": 1, "accepted": False, "reason": "makes image"}],
    }


FLEET = {"fast": 10.0, "slow": 40.0}


def balanced_log():
    # what earliest-finish routing does with 5 shots: fast, fast, fast, fast, slow (40 s each way)
    return [record(f"j{i}", "slow" if i == 4 else "fast", FLEET) for i in range(5)]


def test_decision_log_appends_lines_and_skips_a_torn_one(tmp_path):
    path = tmp_path / "logs" / "decisions.jsonl"
    log = DecisionLog(str(path))
    log.append({"a": 1})
    log.append({"b": 2})
    with open(path, "a") as handle:
        handle.write('{"torn": ')
    assert list(read_log(str(path))) == [{"a": 1}, {"b": 2}]


def test_an_unwritable_log_never_raises(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    DecisionLog(str(blocker / "sub" / "log.jsonl")).append({"a": 1})  # parent is a file: logged, not raised


def test_load_shots_keeps_first_routed_attempts_in_order():
    records = [*balanced_log(), record("j0", "slow", FLEET), record("x", "fast", FLEET, event="no_route")]
    shots, slots = load_shots(records)
    assert [s.job_id for s in shots] == [f"j{i}" for i in range(5)]
    assert slots == {"fast": 1, "slow": 1, "img": 1}
    assert {o.instance for o in shots[0].options} == {"fast", "slow"}  # rejected candidates are not options


def test_round_robin_replay_is_slower_and_names_the_moved_shots():
    report = replay(balanced_log(), "round_robin")
    assert report.logged_makespan == pytest.approx(40.0)
    # round robin alternates: fast gets j0 j2 j4 (30 s), slow gets j1 j3 (80 s)
    assert report.replayed_makespan == pytest.approx(80.0)
    assert report.ratio == pytest.approx(2.0)
    assert ("Shot j1", "fast/wan5b", "slow/wan5b") in report.moved
    assert report.replayed_per_instance == {"fast": 3, "slow": 2}
    lines = report.lines()
    assert "replay_round_robin_vs_logged: 2.00 x" in lines


def test_single_best_and_best_strategies():
    assert replay(balanced_log(), "single_best").replayed_makespan == pytest.approx(50.0)  # all five on fast
    assert replay(balanced_log(), "best").replayed_makespan == pytest.approx(40.0)
    assert set(STRATEGIES) >= {"best", "round_robin", "single_best", "cheapest", "as_logged"}


def test_arrival_times_are_respected():
    records = [record("a", "fast", FLEET, submitted=0.0), record("b", "fast", FLEET, submitted=100.0)]
    assert replay(records, "best").logged_makespan == pytest.approx(110.0)


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        replay([], "coin_flip")


def test_command_line(tmp_path, capsys):
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in balanced_log()))
    assert replay_module.main([str(path), "--strategy", "round_robin"]) == 0
    out = capsys.readouterr().out
    assert "replay_logged_makespan: 40.0 s" in out and "replay_round_robin_makespan: 80.0 s" in out
