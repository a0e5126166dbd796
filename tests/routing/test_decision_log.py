"""The decision log's line (compact, grouped rejections, under 2 KB at 50 candidates) and its rotation."""

import json
import os

from bench.latency import router_and_shots, whole_decision
from shotcaller.routing.decision_log import DecisionLog, decision_record, log_files, read_log
from shotcaller.routing.replay import load_shots


def test_a_line_at_50_candidates_is_under_2_kb_and_groups_rejections():
    router, views, waits, specs = router_and_shots()
    for spec in specs:
        decision = router.route(spec, views, waits=waits)
        assert len(decision.verdicts) == 50
        line = whole_decision(router, spec, views, waits)
        assert len(line.encode()) + 1 <= 2048, len(line)
        record = json.loads(line)
        rejected = record["rejected"]
        assert sum(group["count"] for group in rejected.values()) == sum(not v.accepted for v in decision.verdicts)
        assert all(group["reason"] for group in rejected.values())
        assert "where" not in rejected["media"]  # wrong-shape templates are counted, not listed
        assert len(rejected["vram"]["where"]) == rejected["vram"]["count"]
        assert record["options"][0][:2] == [decision.chosen.instance_id, decision.chosen.offer.name]


def test_replay_reads_the_compact_line():
    router, views, waits, specs = router_and_shots()
    decision = router.route(specs[0], views, waits=waits)
    record = {"event": "routed", "job_id": "j1", "submitted_at": 5.0, **decision_record(decision)}
    shots, slots = load_shots([record])
    assert len(shots) == 1
    assert (shots[0].logged.instance, shots[0].logged.offer) == (
        decision.chosen.instance_id,
        decision.chosen.offer.name,
    )
    assert len(shots[0].options) == len(record["options"]) and slots[decision.chosen.instance_id] >= 1


def test_the_log_rotates_and_reads_back_in_order(tmp_path):
    path = tmp_path / "decisions.jsonl"
    log = DecisionLog(str(path), max_bytes=200, keep=2)
    for i in range(30):
        log.append({"n": i, "pad": "x" * 40})
    files = log_files(str(path))
    assert files == [f"{path}.2", f"{path}.1", str(path)]
    assert all(os.path.getsize(name) <= 200 for name in files)
    numbers = [record["n"] for record in read_log(str(path))]
    assert numbers == list(range(numbers[0], 30))  # the newest, oldest first, none lost in between
    assert numbers[0] > 0  # the oldest rotated away


def test_a_log_reopened_keeps_rotating_from_its_size(tmp_path):
    path = tmp_path / "decisions.jsonl"
    DecisionLog(str(path), max_bytes=300).append({"pad": "x" * 250})
    DecisionLog(str(path), max_bytes=300).append({"pad": "y" * 250})  # a new session: it knows the file is full
    assert log_files(str(path)) == [f"{path}.1", str(path)]
