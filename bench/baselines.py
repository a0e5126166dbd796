"""What the router is measured against, on the same shots, instances and true times (bench/fleet.py).

- `lp_bound`: a lower bound no schedule can beat. A linear program (scipy's HiGHS) splits every
  job freely across the instances that can run it (VRAM fit, the model it needs), each at its
  true time there, so that no instance works longer than its slots x T; T is minimised. No real
  schedule splits a job, so the true optimum is at or above it; it is also at least the longest
  job's fastest time.
- `shared_queue`: one queue in submission order; whenever a slot frees, it takes the next job it
  can run. No speed model, no planning: what a plain job queue with workers does.
- `join_shortest_queue`: each job, as submitted, goes to the instance that can run it with the
  fewest jobs queued per slot; each instance then works through its own queue.
- `round_robin`: each job to the next instance in turn that can run it.
- `single_best`: every job on the instance with the most capacity that can run it.
- `clairvoyant`: the router's own rule (longest first, earliest finish) told every job's true
  time on every instance in advance, noise included: what a scheduler could reach if run times
  were known exactly. The gap from it to the router is the price of not knowing them.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from shotcaller.shots import ShotSpec

from .fleet import SimInstance, TrueTimes, eligible, offer_for


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


def lp_bound(shots: Sequence[ShotSpec], world: TrueTimes, instances: Sequence[SimInstance]) -> float:
    import numpy as np
    from scipy.optimize import linprog

    pairs = [
        (j, i)
        for j, spec in enumerate(shots)
        for i in range(len(instances))
        if instances[i] in eligible(spec, instances)
    ]
    seconds = [_seconds(shots[j], instances[i], world) for j, i in pairs]
    n = len(pairs)  # variables: x[pair] (the share of job j run on instance i), then T
    cost = np.zeros(n + 1)
    cost[n] = 1.0
    a_eq = np.zeros((len(shots), n + 1))
    for k, (j, _) in enumerate(pairs):
        a_eq[j, k] = 1.0
    a_ub = np.zeros((len(instances), n + 1))
    for k, (_, i) in enumerate(pairs):
        a_ub[i, k] = seconds[k]
    for i, inst in enumerate(instances):
        a_ub[i, n] = -float(inst.slots)
    result = linprog(
        cost,
        A_ub=a_ub,
        b_ub=np.zeros(len(instances)),
        A_eq=a_eq,
        b_eq=np.ones(len(shots)),
        bounds=(0, None),
        method="highs",
    )
    if not result.success:
        raise RuntimeError(f"the LP bound did not solve: {result.message}")
    fastest = {}
    for (j, _), s in zip(pairs, seconds, strict=True):
        fastest[j] = min(fastest.get(j, s), s)
    return max(float(result.fun), max(fastest.values()))
