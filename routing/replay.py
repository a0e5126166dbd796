"""A/B: replay a decision log under another strategy and compare expected makespans.

    python -m routing.replay shotcaller_decisions.jsonl --strategy round_robin

Each logged first attempt carries every candidate the router accepted, with the
run time it expected there. The replay re-assigns the same shots, in the same
order and at the same submission times, with another strategy, and plays both
assignments on a virtual clock (each instance with its logged slots). It prints
the expected makespan of each, their ratio, and which shots would have moved.
Standard library only: it reads the log, not Shotcaller's live objects.
"""

from __future__ import annotations

import argparse
import heapq
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .decision_log import OPTION_COLUMNS, read_log


@dataclass(frozen=True)
class Option:
    instance: str
    offer: str
    run_seconds: float
    cost: float = 0.0
    tier: int = 0
    quality: float = 0.0


@dataclass(frozen=True)
class ReplayShot:
    job_id: str
    shot_id: str
    label: str
    final: bool
    arrival: float  # seconds after the first logged shot
    options: tuple[Option, ...]
    logged: Option


@dataclass
class Fleet:
    """Virtual slots per instance: when each slot is next free."""

    slots: dict[str, list[float]]
    ranking: list[str] = field(default_factory=list)  # instances by capacity, largest first
    turn: int = 0  # round robin: where the next turn starts
    used: dict[str, int] = field(default_factory=dict)

    def start_time(self, instance: str, arrival: float) -> float:
        return max(arrival, self.slots[instance][0])

    def book(self, instance: str, arrival: float, seconds: float) -> float:
        start = self.start_time(instance, arrival)
        heapq.heapreplace(self.slots[instance], start + seconds)
        self.used[instance] = self.used.get(instance, 0) + 1
        return start + seconds


Strategy = Callable[[ReplayShot, Fleet, int], Option]


def _top_tier(shot: ReplayShot) -> list[Option]:
    """The options the router itself would have ranked first: the shot's tier, then (finals) quality."""
    best = min((o.tier, -o.quality if shot.final else 0.0) for o in shot.options)
    return [o for o in shot.options if (o.tier, -o.quality if shot.final else 0.0) == best]


def as_logged(shot: ReplayShot, fleet: Fleet, index: int) -> Option:
    return shot.logged


def best(shot: ReplayShot, fleet: Fleet, index: int) -> Option:
    """The router's own rule with perfect hindsight on run times: earliest expected finish."""
    return min(_top_tier(shot), key=lambda o: fleet.start_time(o.instance, shot.arrival) + o.run_seconds)


def round_robin(shot: ReplayShot, fleet: Fleet, index: int) -> Option:
    """The next instance in turn (among those that can make the shot), whatever its speed or queue."""
    names = sorted(fleet.slots)
    options = _top_tier(shot)
    for step in range(len(names)):
        position = (fleet.turn + step) % len(names)
        for option in options:
            if option.instance == names[position]:
                fleet.turn = position + 1
                return option
    return options[0]


def single_best(shot: ReplayShot, fleet: Fleet, index: int) -> Option:
    """Always the instance with the most capacity (slots / typical run time), when it can make the shot."""
    options = _top_tier(shot)
    for name in fleet.ranking:
        for option in options:
            if option.instance == name:
                return option
    return min(options, key=lambda o: o.run_seconds)


def cheapest(shot: ReplayShot, fleet: Fleet, index: int) -> Option:
    return min(_top_tier(shot), key=lambda o: (o.cost, fleet.start_time(o.instance, shot.arrival) + o.run_seconds))


STRATEGIES: dict[str, Strategy] = {
    "as_logged": as_logged,
    "best": best,
    "round_robin": round_robin,
    "single_best": single_best,
    "cheapest": cheapest,
}


def _options(record: dict[str, Any], slots: dict[str, int]) -> list[Option]:
    """The ranked top-tier options of a compact log line (see decision_log.decision_record)."""
    tier, quality = int(record.get("option_tier", 0)), float(record.get("option_quality", 0))
    options = []
    for row in record.get("options", []):
        values = dict(zip(OPTION_COLUMNS, row, strict=False))
        slots[values["instance"]] = max(slots.get(values["instance"], 1), int(values.get("slots", 1)))
        options.append(
            Option(
                values["instance"],
                values["offer"],
                float(values["run_seconds"]),
                float(values.get("cost", 0)),
                tier,
                quality,
            )
        )
    return options


def load_shots(records: Iterable[dict[str, Any]]) -> tuple[list[ReplayShot], dict[str, int]]:
    """First attempts that were routed, in order; and each instance's slots as logged."""
    shots: list[ReplayShot] = []
    slots: dict[str, int] = {}
    seen: set[str] = set()
    first_time: float | None = None
    for record in records:
        chosen = record.get("chosen")
        job_id = str(record.get("job_id", ""))
        if record.get("event") != "routed" or not chosen or job_id in seen:
            continue
        seen.add(job_id)
        options = _options(record, slots)
        for c in record.get("candidates", []):  # the log's earlier format: every candidate in full
            slots[c["instance"]] = max(slots.get(c["instance"], 1), int(c.get("slots", 1)))
            if c.get("accepted") and "run_seconds" in c:
                options.append(
                    Option(
                        c["instance"],
                        c["offer"],
                        float(c["run_seconds"]),
                        float(c.get("cost", 0)),
                        int(c.get("tier", 0)),
                        float(c.get("quality", 0)),
                    )
                )
        logged = next((o for o in options if (o.instance, o.offer) == (chosen["instance"], chosen["offer"])), None)
        if logged is None:  # chosen as a last resort (its instance was down): nothing to compare against
            continue
        submitted = float(record.get("submitted_at") or record.get("time") or 0.0)
        first_time = submitted if first_time is None else min(first_time, submitted)
        shots.append(
            ReplayShot(
                job_id,
                str(record.get("shot_id", "")),
                str(record.get("label", "")),
                record.get("quality") == "final",
                submitted,
                tuple(options),
                logged,
            )
        )
    base = first_time or 0.0
    shots = [ReplayShot(s.job_id, s.shot_id, s.label, s.final, s.arrival - base, s.options, s.logged) for s in shots]
    shots.sort(key=lambda s: s.arrival)
    return shots, slots


@dataclass(frozen=True)
class Outcome:
    makespan: float
    assignments: tuple[Option, ...]
    per_instance: dict[str, int]


def simulate(shots: Sequence[ReplayShot], slots: dict[str, int], strategy: Strategy) -> Outcome:
    runs: dict[str, list[float]] = {}
    for shot in shots:
        for o in shot.options:
            runs.setdefault(o.instance, []).append(o.run_seconds)
    ranking = sorted(runs, key=lambda name: sum(runs[name]) / len(runs[name]) / slots.get(name, 1))
    fleet = Fleet({name: [0.0] * max(1, n) for name, n in slots.items()}, ranking)
    finish, chosen = 0.0, []
    for index, shot in enumerate(shots):
        option = strategy(shot, fleet, index)
        finish = max(finish, fleet.book(option.instance, shot.arrival, option.run_seconds))
        chosen.append(option)
    counts: dict[str, int] = {}
    for option in chosen:
        counts[option.instance] = counts.get(option.instance, 0) + 1
    return Outcome(finish, tuple(chosen), counts)


@dataclass(frozen=True)
class ReplayReport:
    strategy: str
    shots: int
    logged_makespan: float
    replayed_makespan: float
    moved: tuple[tuple[str, str, str], ...]  # (shot, from "instance/offer", to "instance/offer")
    logged_per_instance: dict[str, int]
    replayed_per_instance: dict[str, int]

    @property
    def ratio(self) -> float:
        """Replayed makespan over logged: above 1 means the logged routing was faster."""
        return self.replayed_makespan / self.logged_makespan if self.logged_makespan else 1.0

    def lines(self) -> list[str]:
        out = [
            f"replay_shots: {self.shots} shots",
            f"replay_logged_makespan: {self.logged_makespan:.1f} s",
            f"replay_{self.strategy}_makespan: {self.replayed_makespan:.1f} s",
            f"replay_{self.strategy}_vs_logged: {self.ratio:.2f} x",
            f"replay_moved_shots: {len(self.moved)} shots",
        ]
        out += [f"  moved {shot}: {before} -> {after}" for shot, before, after in self.moved]
        return out


def replay(records: Iterable[dict[str, Any]], strategy: str) -> ReplayReport:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy '{strategy}' (known: {', '.join(sorted(STRATEGIES))})")
    shots, slots = load_shots(records)
    logged = simulate(shots, slots, as_logged)
    replayed = simulate(shots, slots, STRATEGIES[strategy])
    moved = tuple(
        (shot.label or shot.shot_id[:8], f"{a.instance}/{a.offer}", f"{b.instance}/{b.offer}")
        for shot, a, b in zip(shots, logged.assignments, replayed.assignments, strict=True)
        if (a.instance, a.offer) != (b.instance, b.offer)
    )
    return ReplayReport(
        strategy, len(shots), logged.makespan, replayed.makespan, moved, logged.per_instance, replayed.per_instance
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m routing.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("log", help="a decision log (JSON lines)")
    parser.add_argument("--strategy", default="round_robin", choices=sorted(STRATEGIES))
    args = parser.parse_args(argv)
    report = replay(read_log(args.log), args.strategy)
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
