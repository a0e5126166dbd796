"""Fleet simulation on a virtual clock: 200 mixed shots on 4 unequal instances.

Shotcaller's side uses the live code: the Router (filters, scorers, measured speed
learned from the simulated completions, starting from nothing) and the scheduler's
late-binding planner (`plan_dispatch`). Only time is simulated: a job's true run
time is its work x the offer's base rate x the instance's slowness x +-10% noise.
Baselines on the same shots and instances: round robin (each shot to the next
instance that can make it, queued there), always the single best instance, and the
lower bound (total work / total capacity).
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from shotcaller.backends.base import Offer
from shotcaller.jobs.dispatch import SlotBoard, plan_dispatch
from shotcaller.routing.candidates import ShotNeeds
from shotcaller.routing.registry import InstanceView, Locality
from shotcaller.routing.router import Router
from shotcaller.routing.stats import SpeedStats, work_units
from shotcaller.shots import MediaKind, Quality, ShotSpec, make_spec

from .latency import InertBackend

DRAFT = Offer(
    "wan5b", MediaKind.VIDEO, Quality.DRAFT, "Wan 2.2 TI2V 5B", vram_base_gb=8.0, vram_per_megapixel_frame_gb=0.04
)
FINAL = Offer(
    "wan14b", MediaKind.VIDEO, Quality.FINAL, "Wan 2.2 14B", vram_base_gb=18.0, vram_per_megapixel_frame_gb=0.05
)
IMAGE = Offer("flux", MediaKind.IMAGE, Quality.FINAL, "Flux.1 dev", vram_base_gb=12.0)
OFFERS = (DRAFT, FINAL, IMAGE)
BASE_SECONDS_PER_UNIT = {"wan5b": 1.0, "wan14b": 3.0, "flux": 20.0}  # on the reference GPU


@dataclass(frozen=True)
class SimInstance:
    name: str
    slots: int
    slowness: float  # seconds per reference second, per job (a shared GPU runs each job slower)
    vram_gb: float

    @property
    def capacity(self) -> float:
        return self.slots / self.slowness


# A small studio's mixed boxes: a fast 4090; an A6000 running two jobs at once (each slower);
# a fast 16 GB 4080 too small for the 14B finals (drafts and stills only); an old 24 GB P40,
# roomy but slow. Unequal in speed, slots and memory.
INSTANCES = (
    SimInstance("gpu-4090", 1, 1.0, 24.0),
    SimInstance("gpu-a6000", 2, 2.2, 48.0),
    SimInstance("gpu-4080", 1, 1.3, 16.0),
    SimInstance("gpu-p40", 1, 4.5, 24.0),
)


def make_shots(count: int = 200, seed: int = 7) -> list[ShotSpec]:
    rng = random.Random(seed)
    shots = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.6:
            fields = {"quality": "draft", "width": 832, "height": 480, "frame_count": rng.choice((49, 81, 121))}
        elif roll < 0.9:
            fields = {"quality": "final", "width": 1280, "height": 720, "frame_count": rng.choice((49, 81))}
        else:
            fields = {"media": "image", "quality": "final", "width": 1024, "height": 1024}
        shots.append(make_spec(shot_id=f"shot{i:08d}", label=f"Shot {i + 1:03d}", prompt="a lighthouse", **fields))
    return shots


class TrueTimes:
    """The simulated world: how long a shot really takes on an instance (deterministic noise)."""

    def __init__(self, seed: int = 11) -> None:
        self._rng = random.Random(seed)
        self._noise: dict[tuple[str, str], float] = {}

    def reference_seconds(self, spec: ShotSpec, offer: Offer) -> float:
        return work_units(spec) * BASE_SECONDS_PER_UNIT[offer.name]

    def seconds(self, spec: ShotSpec, offer: Offer, instance: SimInstance) -> float:
        key = (spec.shot_id, instance.name)
        if key not in self._noise:
            self._noise[key] = self._rng.uniform(0.9, 1.1)
        return self.reference_seconds(spec, offer) * instance.slowness * self._noise[key]


def offer_for(spec: ShotSpec) -> Offer:
    """What the router would pick by tier and quality (the baselines use the same offer)."""
    if spec.media == MediaKind.IMAGE:
        return IMAGE
    return FINAL if spec.quality == Quality.FINAL else DRAFT


def fits(spec: ShotSpec, offer: Offer, instance: SimInstance) -> bool:
    needs = ShotNeeds.of(spec)
    return offer.estimate_vram_gb(spec.width, spec.height, needs.frames) <= instance.vram_gb


@dataclass
class FleetResult:
    makespan: float
    per_instance: dict[str, int]
    log: list[dict]


def simulate_router(shots: list[ShotSpec], world: TrueTimes) -> FleetResult:
    """The live router and planner, all shots submitted at t=0, on a virtual clock."""
    by_name = {inst.name: inst for inst in INSTANCES}
    views = [
        InstanceView(
            backend=InertBackend(inst.name),
            instance_id=inst.name,
            kind="comfyui",
            offers=OFFERS,
            locality=Locality.LOCAL_NETWORK,
            slots=inst.slots,
            vram_free_gb=inst.vram_gb,
            vram_source="configured",
        )
        for inst in INSTANCES
    ]
    router = Router(speeds=SpeedStats())
    pending = list(shots)
    running: dict[str, dict[int, tuple[float, float]]] = {inst.name: {} for inst in INSTANCES}  # (started, expected)
    completions: list[tuple[float, int, str, ShotSpec, Offer, float]] = []
    now, sequence, makespan = 0.0, 0, 0.0
    per_instance = {inst.name: 0 for inst in INSTANCES}
    log: list[dict] = []
    while pending or completions:
        boards = {
            name: SlotBoard.of(
                by_name[name].slots, [max(exp - (now - start), 0.1 * exp, 0.5) for start, exp in jobs.values()]
            )
            for name, jobs in running.items()
        }
        placements = plan_dispatch(pending, boards, lambda spec, waits: router.route(spec, views, waits=waits))
        for placement in list(placements):
            decision = placement.decision
            if decision.chosen is None:
                raise RuntimeError(f"no route in the simulation: {decision.explanation}")
            if not placement.start_now:
                continue
            spec, chosen = placement.job, decision.chosen
            pending.remove(spec)
            seconds = world.seconds(spec, chosen.offer, by_name[chosen.instance_id])
            sequence += 1
            running[chosen.instance_id][sequence] = (now, decision.scores[0].run_seconds)
            heapq.heappush(completions, (now + seconds, sequence, chosen.instance_id, spec, chosen.offer, seconds))
            per_instance[chosen.instance_id] += 1
            log.append(
                {"event": "routed", "job_id": spec.shot_id, "attempt": 1, "submitted_at": 0.0, **decision.to_record()}
            )
        finished, done, name, spec, offer, seconds = heapq.heappop(completions)
        now = makespan = finished
        router.speeds.record(name, offer.name, seconds, work_units(spec))
        del running[name][done]
    return FleetResult(makespan, per_instance, log)


def _queue_makespan(assignments: dict[str, list[float]]) -> float:
    """Each instance runs its own queue in order on its slots."""
    makespan = 0.0
    for name, durations in assignments.items():
        slots = [0.0] * next(inst.slots for inst in INSTANCES if inst.name == name)
        for seconds in durations:
            start = heapq.heappop(slots)
            heapq.heappush(slots, start + seconds)
            makespan = max(makespan, start + seconds)
    return makespan


def simulate_round_robin(shots: list[ShotSpec], world: TrueTimes) -> float:
    assignments: dict[str, list[float]] = {inst.name: [] for inst in INSTANCES}
    turn = 0
    for spec in shots:
        offer = offer_for(spec)
        for step in range(len(INSTANCES)):
            inst = INSTANCES[(turn + step) % len(INSTANCES)]
            if fits(spec, offer, inst):
                assignments[inst.name].append(world.seconds(spec, offer, inst))
                turn = (turn + step + 1) % len(INSTANCES)
                break
    return _queue_makespan(assignments)


def simulate_single_best(shots: list[ShotSpec], world: TrueTimes) -> float:
    best = max(INSTANCES, key=lambda inst: inst.capacity)
    return _queue_makespan({best.name: [world.seconds(spec, offer_for(spec), best) for spec in shots]})


def lower_bound(shots: list[ShotSpec], world: TrueTimes) -> float:
    work = sum(world.reference_seconds(spec, offer_for(spec)) for spec in shots)
    return work / sum(inst.capacity for inst in INSTANCES)
