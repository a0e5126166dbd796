"""Routing benchmarks: `python -m bench.routing` (from the repository root).

Prints each figure on its own line as `name: value unit`, with its target and its ratio
against baselines measured in the same run: decision latency over the whole decision path
beside a pure-Python control; fleet simulations (three fleets, several seeds) against a
linear-programming lower bound, the best whole-job schedule (a MILP) and the bound at expected
times (bench/bounds.py), a plain shared queue, join-shortest-queue, round robin, the single best
instance and a clairvoyant scheduler (plus an A/B replay of the run's decision log); the
decision log at 100,000 decisions; and the failover time from a reference ComfyUI server
killed mid-job to the job accepted elsewhere.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from shotcaller.routing.replay import replay

from . import baselines, bounds, fleet, history, latency

DECISION_P50_TARGET_MS = 1.0
MAKESPAN_VS_LP_TARGET = 1.05
VS_SHARED_QUEUE_TARGET = 0.95  # at least 5% shorter
LOG_LINE_TARGET_BYTES = 2048
FAILOVER_TARGET_S = 2.0
SEEDS = (7, 8, 9)

Emit = Callable[[str, float, str], None]


def line(name: str, value: float, unit: str) -> None:
    print(f"{name}: {value:.4g} {unit}".rstrip(), flush=True)


def bench_latency(emit: Emit, iterations: int) -> None:
    r = latency.measure(iterations=iterations, warmup=max(50, iterations // 10))
    emit("decision_candidates", r.candidates, "candidates")
    emit("decision_route_only_p50", r.route_p50_ms, "ms")
    emit("decision_p50", r.p50_ms, "ms")
    emit("decision_p99", r.p99_ms, "ms")
    emit("decision_max", r.max_ms, "ms")
    emit("decision_p50_target", DECISION_P50_TARGET_MS, "ms")
    emit("decision_p50_vs_target", r.p50_ms / DECISION_P50_TARGET_MS, "x")
    emit("decision_control_p50", r.control_p50_ms, "ms")
    emit("decision_control_p99", r.control_p99_ms, "ms")
    emit("decision_control_max", r.control_max_ms, "ms")
    emit("decision_p50_vs_control_p50", r.p50_ms / r.control_p50_ms, "x")
    # The tail, each against its own median: equal spreads mean the tail is the machine's.
    emit("decision_p99_over_p50", r.p99_ms / r.p50_ms, "x")
    emit("decision_control_p99_over_p50", r.control_p99_ms / r.control_p50_ms, "x")
    emit("decision_log_line", r.log_line_bytes, "bytes")
    emit("decision_log_line_vs_target", r.log_line_bytes / LOG_LINE_TARGET_BYTES, "x")


BASELINES = {
    "shared_queue": baselines.shared_queue,
    "join_shortest_queue": baselines.join_shortest_queue,
    "round_robin": baselines.round_robin,
    "single_best": baselines.single_best,
    "clairvoyant": baselines.clairvoyant,
    "known_speeds": baselines.known_speeds,
}


def bench_fleet(emit: Emit, shots: int, seeds: Sequence[int]) -> None:
    """Per fleet: makespans are means over the seeds; a ratio is the worst seed's (`_mean`: the mean)."""
    studio_log: list[dict] = []
    for name, instances in fleet.FLEETS.items():
        runs: list[dict[str, float]] = []
        for seed in seeds:
            specs = fleet.make_shots(shots, seed=seed)
            world = fleet.TrueTimes()
            ours = fleet.simulate_router(specs, world, instances)
            if not studio_log:
                studio_log = ours.log
            run = {key: fn(specs, world, instances) for key, fn in BASELINES.items()}
            best = bounds.milp_schedule(specs, world, instances)
            run.update(
                router=ours.makespan,
                lp_bound=bounds.lp_bound(specs, world, instances),
                lp_bound_expected=bounds.lp_bound(specs, world, instances, expected=True),
                milp=best.makespan,
                milp_dual_bound=best.dual_bound,
            )
            runs.append(run)
        prefix = f"fleet_{name}"

        def mean(key: str, runs: list[dict[str, float]] = runs) -> float:
            return sum(r[key] for r in runs) / len(runs)

        def worst(over: str, under: str, runs: list[dict[str, float]] = runs) -> float:
            return max(r[over] / r[under] for r in runs)

        def mean_ratio(over: str, under: str, runs: list[dict[str, float]] = runs) -> float:
            return sum(r[over] / r[under] for r in runs) / len(runs)

        emit(f"{prefix}_shots", shots, "shots")
        emit(f"{prefix}_instances", len(instances), "instances")
        emit(f"{prefix}_seeds", len(seeds), "runs")
        for key in ("lp_bound", "milp_dual_bound", "lp_bound_expected"):
            emit(f"{prefix}_{key}", mean(key), "s")
        emit(f"{prefix}_router_makespan", mean("router"), "s")
        emit(f"{prefix}_milp_makespan", mean("milp"), "s")
        for key in BASELINES:
            emit(f"{prefix}_{key}_makespan", mean(key), "s")
        emit(f"{prefix}_router_vs_lp_bound", worst("router", "lp_bound"), "x")
        emit(f"{prefix}_router_vs_lp_bound_mean", mean_ratio("router", "lp_bound"), "x")
        emit(f"{prefix}_router_vs_lp_bound_target", MAKESPAN_VS_LP_TARGET, "x")
        met = sum(r["router"] <= MAKESPAN_VS_LP_TARGET * r["lp_bound"] for r in runs)
        emit(f"{prefix}_router_vs_lp_bound_target_met", met, "runs")
        emit(f"{prefix}_router_vs_shared_queue", worst("router", "shared_queue"), "x")
        emit(f"{prefix}_router_vs_shared_queue_mean", mean_ratio("router", "shared_queue"), "x")
        emit(f"{prefix}_router_vs_shared_queue_target", VS_SHARED_QUEUE_TARGET, "x")
        met = sum(r["router"] <= VS_SHARED_QUEUE_TARGET * r["shared_queue"] for r in runs)
        emit(f"{prefix}_router_vs_shared_queue_target_met", met, "runs")
        for key in ("join_shortest_queue", "round_robin", "single_best", "clairvoyant", "known_speeds", "milp"):
            emit(f"{prefix}_router_vs_{key}", worst("router", key), "x")
        emit(f"{prefix}_router_vs_lp_bound_expected", worst("router", "lp_bound_expected"), "x")
        emit(f"{prefix}_router_vs_lp_bound_expected_mean", mean_ratio("router", "lp_bound_expected"), "x")
        # How much room the targets leave: the best whole-job schedule told every true time, and
        # the floor (on average) for any scheduler that cannot know a job's noise before it runs.
        emit(f"{prefix}_milp_vs_lp_bound", worst("milp", "lp_bound"), "x")
        emit(f"{prefix}_milp_vs_shared_queue", worst("milp", "shared_queue"), "x")
        emit(f"{prefix}_lp_bound_expected_vs_lp_bound", worst("lp_bound_expected", "lp_bound"), "x")
        emit(f"{prefix}_lp_bound_expected_vs_shared_queue", worst("lp_bound_expected", "shared_queue"), "x")
        emit(f"{prefix}_clairvoyant_vs_lp_bound", worst("clairvoyant", "lp_bound"), "x")
    report = replay(studio_log, "round_robin")  # A/B on the run's own decision log, expected times
    emit("replay_logged_expected_makespan", report.logged_makespan, "s")
    emit("replay_round_robin_expected_makespan", report.replayed_makespan, "s")
    emit("replay_round_robin_vs_logged", report.ratio, "x")
    emit("replay_round_robin_moved_shots", len(report.moved), "shots")


def bench_history(emit: Emit, decisions: int) -> None:
    r = history.measure(decisions)
    emit("history_decisions", r.decisions, "decisions")
    emit("history_line", r.line_bytes, "bytes")
    emit("history_line_vs_full_record", r.line_bytes / r.full_record_bytes, "x")
    emit("history_line_vs_target", r.line_bytes / LOG_LINE_TARGET_BYTES, "x")
    emit("history_files", r.files, "files")
    emit("history_on_disk", r.bytes_on_disk / 1e6, "mb")
    emit("history_records_kept", r.records_kept, "decisions")
    emit("history_append", r.append_ms, "ms")
    emit("history_read", r.read_seconds, "s")
    emit("history_read_control", r.raw_read_seconds, "s")
    emit("history_read_vs_control", r.read_seconds / r.raw_read_seconds, "x")
    emit("history_read_per_decision", r.read_seconds / max(1, r.records_kept) * 1e6, "us")


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
    parser.add_argument("--skip-history", action="store_true", help="do not write the 100,000-decision log")
    args = parser.parse_args(argv)
    bench_latency(line, iterations=300 if args.quick else 5000)
    bench_fleet(line, shots=40 if args.quick else 200, seeds=SEEDS[:1] if args.quick else SEEDS)
    if not args.skip_history:
        bench_history(line, decisions=2000 if args.quick else 100_000)
    if not args.skip_failover:
        bench_failover(line, step_seconds=0.05 if args.quick else 0.25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
