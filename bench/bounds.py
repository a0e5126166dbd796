"""Lower bounds and the best offline schedule for a fleet run (bench/fleet.py), all with scipy's HiGHS.

- `lp_bound`: every job split freely across the instances that can run it (VRAM fit, the model
  it needs), each at its true time there, so that no instance works longer than its slots x T;
  T is minimised. No real schedule splits a job, so the true optimum is at or above it; it is
  also at least the longest job's fastest time.
- `milp_schedule`: the same problem with each job whole on one slot (every slot of an instance a
  machine of its own: all jobs are there at t=0 and none is split, so a slot's finish is the sum
  of its jobs' times). Solved to within `MILP_GAP`: its best schedule is what a scheduler told
  every true time in advance could reach, its dual bound a proven floor for any schedule at all.
- `lp_bound(expected=True)`: the LP at each job's *expected* time on each instance (the world's
  +-10% noise left out). True times carry noise that no scheduler can know before the job has
  run (each shot runs once), and the true-time bounds pick every job's lucky instance. A
  scheduler that decides before seeing a job's noise loads each instance, on average, with the
  expected times of what it sends there, so its expected makespan is at least this bound (a
  floor on the average over worlds, not on each seed: one seed's luck can fall below it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shotcaller.shots import ShotSpec

from .fleet import SimInstance, TrueTimes, eligible, offer_for

MILP_GAP = 0.003  # stop once the best schedule is proven within 0.3% of optimal
MILP_TIME_LIMIT_S = 10.0  # per run; a few seconds on the benchmark fleets (it stops at the gap first)

Times = Callable[[ShotSpec, SimInstance], float]


def _times(world: TrueTimes, expected: bool) -> Times:
    if expected:
        return lambda spec, inst: world.expected_seconds(spec, offer_for(spec), inst)
    return lambda spec, inst: world.seconds(spec, offer_for(spec), inst)


def _pairs(shots: Sequence[ShotSpec], machines: Sequence[SimInstance], seconds: Times) -> list[tuple[int, int, float]]:
    """(job, machine, seconds) for every machine that can run the job."""
    out = []
    for j, spec in enumerate(shots):
        can = eligible(spec, machines)
        out += [(j, m, seconds(spec, inst)) for m, inst in enumerate(machines) if inst in can]
    return out


def lp_bound(
    shots: Sequence[ShotSpec], world: TrueTimes, instances: Sequence[SimInstance], expected: bool = False
) -> float:
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    pairs = _pairs(shots, instances, _times(world, expected))
    n = len(pairs)  # variables: x[pair] (the share of job j run on instance i), then T
    cost = np.zeros(n + 1)
    cost[n] = 1.0
    a_eq = coo_matrix(([1.0] * n, ([j for j, _, _ in pairs], range(n))), shape=(len(shots), n + 1))
    rows = [i for _, i, _ in pairs] + list(range(len(instances)))
    cols = list(range(n)) + [n] * len(instances)
    vals = [s for _, _, s in pairs] + [-float(inst.slots) for inst in instances]
    a_ub = coo_matrix((vals, (rows, cols)), shape=(len(instances), n + 1))
    result = linprog(
        cost,
        A_ub=a_ub.tocsr(),
        b_ub=np.zeros(len(instances)),
        A_eq=a_eq.tocsr(),
        b_eq=np.ones(len(shots)),
        bounds=(0, None),
        method="highs",
    )
    if not result.success:
        raise RuntimeError(f"the LP bound did not solve: {result.message}")
    fastest: dict[int, float] = {}
    for j, _, s in pairs:
        fastest[j] = min(fastest.get(j, s), s)
    return max(float(result.fun), max(fastest.values()))


@dataclass(frozen=True)
class MilpResult:
    makespan: float  # the best whole-job schedule found, at true times
    dual_bound: float  # no schedule can be shorter (proven by the solver)
    optimal: bool  # solved to the gap (False: stopped by the time limit)


def milp_schedule(
    shots: Sequence[ShotSpec], world: TrueTimes, instances: Sequence[SimInstance], time_limit: float = MILP_TIME_LIMIT_S
) -> MilpResult:
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    machines = [inst for inst in instances for _ in range(inst.slots)]
    pairs = _pairs(shots, machines, _times(world, expected=False))
    n, jobs = len(pairs), len(shots)
    cost = np.zeros(n + 1)
    cost[n] = 1.0
    # rows 0..jobs-1: each job on exactly one slot; then per slot: its jobs' seconds - T <= 0
    rows = [j for j, _, _ in pairs] + [jobs + m for _, m, _ in pairs] + [jobs + m for m in range(len(machines))]
    cols = list(range(n)) * 2 + [n] * len(machines)
    vals = [1.0] * n + [s for _, _, s in pairs] + [-1.0] * len(machines)
    matrix = coo_matrix((vals, (rows, cols)), shape=(jobs + len(machines), n + 1)).tocsr()
    lower = np.concatenate([np.ones(jobs), np.full(len(machines), -np.inf)])
    upper = np.concatenate([np.ones(jobs), np.zeros(len(machines))])
    result = milp(
        cost,
        constraints=LinearConstraint(matrix, lower, upper),
        integrality=np.concatenate([np.ones(n), [0]]),
        bounds=Bounds(np.zeros(n + 1), np.concatenate([np.ones(n), [np.inf]])),
        options={"time_limit": time_limit, "mip_rel_gap": MILP_GAP, "disp": False},
    )
    if result.x is None:
        raise RuntimeError(f"the MILP found no schedule: {result.message}")
    return MilpResult(float(result.fun), float(result.mip_dual_bound), result.status == 0)
