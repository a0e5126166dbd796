"""Routing benchmarks: `python -m bench.routing` (from the repository root).

Prints each figure on its own line as `name: value unit`, with its target and its
ratio against the target or against a baseline measured in the same run:
decision latency over 50 candidates; a 200-shot fleet simulation on a virtual
clock against the lower bound, round robin and the single best instance (plus an
A/B replay of that run's decision log under round robin); and the failover time
from a reference ComfyUI server killed mid-job to the job accepted elsewhere.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from shotcaller.routing.replay import replay

from . import fleet, latency

DECISION_P99_TARGET_MS = 0.5
MAKESPAN_VS_LOWER_BOUND_TARGET = 1.10
SPEEDUP_VS_ROUND_ROBIN_TARGET = 1.5
FAILOVER_TARGET_S = 2.0

Emit = Callable[[str, float, str], None]


def line(name: str, value: float, unit: str) -> None:
    print(f"{name}: {value:.4g} {unit}".rstrip(), flush=True)


def bench_latency(emit: Emit, iterations: int) -> None:
    result = latency.measure(iterations=iterations, warmup=max(50, iterations // 10))
    emit("decision_candidates", result.candidates, "candidates")
    emit("decision_p50", result.p50_ms, "ms")
    emit("decision_p99", result.p99_ms, "ms")
    emit("decision_p99_target", DECISION_P99_TARGET_MS, "ms")
    emit("decision_p99_vs_target", result.p99_ms / DECISION_P99_TARGET_MS, "x")


def bench_fleet(emit: Emit, shots: int) -> None:
    specs = fleet.make_shots(shots)
    world = fleet.TrueTimes()
    ours = fleet.simulate_router(specs, world)
    bound = fleet.lower_bound(specs, world)
    round_robin = fleet.simulate_round_robin(specs, world)
    single = fleet.simulate_single_best(specs, world)
    emit("fleet_shots", len(specs), "shots")
    emit("fleet_instances", len(fleet.INSTANCES), "instances")
    emit("fleet_lower_bound", bound, "s")
    emit("fleet_makespan", ours.makespan, "s")
    emit("fleet_round_robin_makespan", round_robin, "s")
    emit("fleet_single_best_makespan", single, "s")
    emit("fleet_makespan_vs_lower_bound", ours.makespan / bound, "x")
    emit("fleet_makespan_vs_lower_bound_target", MAKESPAN_VS_LOWER_BOUND_TARGET, "x")
    emit("fleet_speedup_vs_round_robin", round_robin / ours.makespan, "x")
    emit("fleet_speedup_vs_round_robin_target", SPEEDUP_VS_ROUND_ROBIN_TARGET, "x")
    emit("fleet_speedup_vs_single_best", single / ours.makespan, "x")
    for name, count in ours.per_instance.items():
        emit(f"fleet_shots_on_{name.replace('-', '_')}", count, "shots")
    report = replay(ours.log, "round_robin")  # A/B on the run's own decision log, expected times
    emit("replay_logged_expected_makespan", report.logged_makespan, "s")
    emit("replay_round_robin_expected_makespan", report.replayed_makespan, "s")
    emit("replay_round_robin_vs_logged", report.ratio, "x")
    emit("replay_round_robin_moved_shots", len(report.moved), "shots")


def bench_failover(emit: Emit, step_seconds: float) -> None:
    from . import failover  # starts subprocesses: imported only when asked for

    stopped = failover.measure(step_seconds=step_seconds)  # handle.stop(): SIGTERM
    emit("failover_to_rerouted", stopped.to_rerouted, "s")
    emit("failover_to_accepted_elsewhere", stopped.to_accepted, "s")
    emit("failover_target", FAILOVER_TARGET_S, "s")
    emit("failover_vs_target", stopped.to_accepted / FAILOVER_TARGET_S, "x")
    emit("failover_job_succeeded", 1.0 if stopped.succeeded else 0.0, "bool")
    killed = failover.measure(step_seconds=step_seconds, hard=True)  # SIGKILL: the connection just drops
    emit("failover_hard_kill_to_accepted_elsewhere", killed.to_accepted, "s")
    emit("failover_hard_kill_vs_target", killed.to_accepted / FAILOVER_TARGET_S, "x")
    emit("failover_hard_kill_job_succeeded", 1.0 if killed.succeeded else 0.0, "bool")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations and shots (smoke test)")
    parser.add_argument("--skip-failover", action="store_true", help="do not start reference servers")
    args = parser.parse_args(argv)
    bench_latency(line, iterations=300 if args.quick else 5000)
    bench_fleet(line, shots=40 if args.quick else 200)
    if not args.skip_failover:
        bench_failover(line, step_seconds=0.05 if args.quick else 0.25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
