"""Smoke test: the benchmark runs end to end and prints `name: value unit` lines. No timing assertions."""

import re

from bench import routing as bench_routing

LINE = re.compile(r"^[a-z0-9_]+: -?[0-9.e+-]+ [a-z]+$")


def test_quick_benchmark_prints_every_figure(capsys):
    assert bench_routing.main(["--quick"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines and all(LINE.match(line) for line in lines), lines
    names = {line.split(":")[0] for line in lines}
    assert {
        "decision_p50",
        "decision_p99",
        "decision_control_p99",
        "decision_p99_over_p50",
        "decision_control_p99_over_p50",
        "decision_log_line",
        "history_line",
        "history_read_vs_control",
        "replay_round_robin_vs_logged",
        "failover_to_accepted_elsewhere",
        "failover_target",
        "failover_job_succeeded",
        "failover_hard_kill_job_succeeded",
    } <= names
    for fleet in ("studio", "vram_split", "speed_skew"):
        for figure in (
            "lp_bound",
            "lp_bound_expected",
            "milp_makespan",
            "milp_dual_bound",
            "router_makespan",
            "shared_queue_makespan",
            "join_shortest_queue_makespan",
            "round_robin_makespan",
            "router_vs_lp_bound",
            "router_vs_shared_queue",
            "router_vs_join_shortest_queue",
            "router_vs_round_robin",
            "router_vs_milp",
            "router_vs_known_speeds",
            "router_vs_lp_bound_expected",
            "milp_vs_shared_queue",
            "lp_bound_expected_vs_shared_queue",
        ):
            assert f"fleet_{fleet}_{figure}" in names
    values = {line.split(":")[0]: float(line.split()[1]) for line in lines}
    for fleet in ("studio", "vram_split", "speed_skew"):  # the bounds are bounds (no timing in these)
        assert values[f"fleet_{fleet}_milp_dual_bound"] <= values[f"fleet_{fleet}_milp_makespan"]
        assert values[f"fleet_{fleet}_lp_bound"] <= values[f"fleet_{fleet}_milp_makespan"] * (1 + 1e-6)
    assert values["failover_job_succeeded"] == 1.0 and values["failover_hard_kill_job_succeeded"] == 1.0
