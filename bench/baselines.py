"""What the router is measured against, on the same shots, instances and true times (bench/fleet.py).
The lower bounds and the best offline schedule are in bench/bounds.py.

- `shared_queue`: one queue in submission order; whenever a slot frees, it takes the next job it
  can run. No speed model, no planning: what a plain job queue with workers does.
- `join_shortest_queue`: each job, as submitted, goes to the instance that can run it with the
  fewest jobs queued per slot; each instance then works through its own queue.
- `round_robin`: each job to the next instance in turn that can run it.
- `single_best`: every job on the instance with the most capacity that can run it.
- `clairvoyant`: the router's own rule (longest first, earliest finish) told every job's true
  time on every instance in advance, noise included: what a scheduler could reach if run times
  were known exactly. The gap from it to the router is the price of not knowing them; from the
  best whole-job schedule (bench/bounds.py) to it, the price of the greedy rule itself.
- `known_speeds`: the live router and planner exactly as in the router run, but starting from
  every instance's true mean speed on every model instead of learning it (each job's noise still
  unknown): the gap from it to the router is the price of learning speeds from nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from shotcaller.routing.stats import SpeedStats
from shotcaller.shots import ShotSpec

from .fleet import OFFERS, SimInstance, TrueTimes, eligible, offer_for, simulate_router


def _queue_makespan(assignments: dict[str, list[float]], instances: Sequence[SimInstance]) -> float:
    """Each instance runs its own queue in order on its slots."""
    slots_of = {inst.name: inst.slots for inst in instances}
    makespan = 0.0
    for name, durations in assignments.items():
        slots = [0.0] * slots_of[name]
        for seconds in durations:
            start = heapq.heappop(slots)
            heapq.heappush(slots, start + seconds)
            makespan = max(makespan, start + seconds)
    return makespan


def _seconds(spec: ShotSpec, inst: SimInstance, world: TrueTimes) -> float:
    return world.seconds(spec, offer_for(spec), inst)


def round_robin(shots: Sequence[ShotSpec], world: TrueTimes, instances: Sequence[SimInstance]) -> float:
    assignments: dict[str, list[float]] = {inst.name: [] for inst in instances}
    turn = 0
    for spec in shots:
        can = {inst.name for inst in eligible(spec, instances)}
        for step in range(len(instances)):
            inst = instances[(turn + step) % len(instances)]
            if inst.name in can:
                assignments[inst.name].append(_seconds(spec, inst, world))
                turn = (turn + step + 1) % len(instances)
                break
    return _queue_makespan(assignments, instances)


def join_shortest_queue(shots: Sequence[ShotSpec], world: TrueTimes, instances: Sequence[SimInstance]) -> float:
    assignments: dict[str, list[float]] = {inst.name: [] for inst in instances}
    for spec in shots:
        inst = min(eligible(spec, instances), key=lambda i: len(assignments[i.name]) / i.slots)
        assignments[inst.name].append(_seconds(spec, inst, world))
    return _queue_makespan(assignments, instances)


def single_best(shots: Sequence[ShotSpec], world: TrueTimes, instances: Sequence[SimInstance]) -> float:
    assignments: dict[str, list[float]] = {inst.name: [] for inst in instances}
    for spec in shots:
        inst = max(eligible(spec, instances), key=lambda i: i.capacity)
        assignments[inst.name].append(_seconds(spec, inst, world))
    return _queue_makespan(assignments, instances)


def clairvoyant(shots: Sequence[ShotSpec], world: TrueTimes, instances: Sequence[SimInstance]) -> float:
    slots = {inst.name: [0.0] * inst.slots for inst in instances}
    times = [{inst.name: _seconds(spec, inst, world) for inst in eligible(spec, instances)} for spec in shots]
    makespan = 0.0
    for options in sorted(times, key=lambda t: -min(t.values())):
        name = min(options, key=lambda n: slots[n][0] + options[n])
        end = heapq.heappop(slots[name]) + options[name]
        heapq.heappush(slots[name], end)
        makespan = max(makespan, end)
    return makespan


def shared_queue(shots: Sequence[ShotSpec], world: TrueTimes, instances: Sequence[SimInstance]) -> float:
    """Event-driven: free slots (earliest free first, then fleet order) take the next job they can run."""
    queue = list(shots)
    free: list[tuple[float, int, int]] = [  # (free at, instance index, slot)
        (0.0, index, slot) for index, inst in enumerate(instances) for slot in range(inst.slots)
    ]
    heapq.heapify(free)
    can = [{inst.name for inst in eligible(spec, instances)} for spec in queue]
    taken = [False] * len(queue)
    idle: list[tuple[int, int]] = []  # slots that found nothing they can run
    makespan, left = 0.0, len(queue)
    while left and free:
        at, index, slot = heapq.heappop(free)
        inst = instances[index]
        job = next((j for j in range(len(queue)) if not taken[j] and inst.name in can[j]), None)
        if job is None:
            idle.append((index, slot))  # nothing left for it: it stays idle for good
            continue
        taken[job] = True
        left -= 1
        end = at + _seconds(queue[job], inst, world)
        makespan = max(makespan, end)
        heapq.heappush(free, (end, index, slot))
    return makespan


def known_speeds(shots: Sequence[ShotSpec], world: TrueTimes, instances: Sequence[SimInstance]) -> float:
    speeds = SpeedStats()
    speeds.seed({(i.name, offer.name): world.seconds_per_unit(offer, i) for i in instances for offer in OFFERS})
    return simulate_router(list(shots), world, instances, speeds=speeds).makespan
