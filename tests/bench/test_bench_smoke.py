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
        "decision_p99_target",
        "decision_p99_vs_target",
        "fleet_makespan",
        "fleet_lower_bound",
        "fleet_makespan_vs_lower_bound",
        "fleet_speedup_vs_round_robin",
        "fleet_speedup_vs_single_best",
        "replay_round_robin_vs_logged",
        "failover_to_accepted_elsewhere",
        "failover_target",
        "failover_job_succeeded",
        "failover_hard_kill_job_succeeded",
    } <= names
    values = {line.split(":")[0]: float(line.split()[1]) for line in lines}
    assert values["failover_job_succeeded"] == 1.0 and values["failover_hard_kill_job_succeeded"] == 1.0
