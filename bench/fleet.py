"""Fleet simulation on a virtual clock: mixed shots on unequal instances, router against baselines.

Shotcaller's side uses the live code: the Router (filters, scorers, measured speed learned
from the simulated completions, starting from nothing) and the scheduler's late-binding
planner (`plan_dispatch`). Only time is simulated: a job's true run time is its work x the
offer's base rate x the instance's slowness x +-10% noise. The baselines (bench/baselines.py)
run the same shots on the same instances with the same true times.

Each fleet is chosen so that something matters: which cards can hold the 14B finals (VRAM
fit), which box is fast (unequal speed), and drafts and finals mixed in one batch.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from dataclasses import dataclass

from shotcaller.backends.base import Offer
from shotcaller.jobs.dispatch import SlotBoard, longest_first, plan_dispatch
from shotcaller.routing.candidates import ShotNeeds
from shotcaller.routing.decision_log import decision_record
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
STUDIO = (
    SimInstance("gpu-4090", 1, 1.0, 24.0),
    SimInstance("gpu-a6000", 2, 2.2, 48.0),
    SimInstance("gpu-4080", 1, 1.3, 16.0),
    SimInstance("gpu-p40", 1, 4.5, 24.0),
)
# Memory decides: two fast 12 GB cards can make drafts and stills only (Flux just fits), so every
# final must go to the two roomy cards, one of them slow. A queue that hands drafts to the roomy
# cards first leaves the finals waiting.
VRAM_SPLIT = (
    SimInstance("gpu-3080-a", 1, 1.1, 12.0),
    SimInstance("gpu-3080-b", 1, 1.1, 12.0),
    SimInstance("gpu-a100", 2, 1.4, 80.0),
    SimInstance("gpu-p40", 1, 4.5, 24.0),
)
# Speed decides: one fast card and four slow ones that can all make everything; a job started
# late on a slow card ends the batch long after the fast one would have.
SPEED_SKEW = (
    SimInstance("gpu-h100", 1, 0.5, 80.0),
    SimInstance("gpu-t4-a", 1, 4.0, 24.0),
    SimInstance("gpu-t4-b", 1, 4.0, 24.0),
    SimInstance("gpu-t4-c", 1, 4.0, 24.0),
    SimInstance("gpu-t4-d", 1, 4.0, 24.0),
)
FLEETS: dict[str, tuple[SimInstance, ...]] = {"studio": STUDIO, "vram_split": VRAM_SPLIT, "speed_skew": SPEED_SKEW}
INSTANCES = STUDIO  # the default fleet


def make_shots(count: int = 200, seed: int = 7, finals: float = 0.3) -> list[ShotSpec]:
    """A batch as submitted: drafts, video finals and stills mixed, in the order of the edit."""
    rng = random.Random(seed)
    shots = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.9 - finals:
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
        self.seed = seed
        self._noise: dict[tuple[str, str], float] = {}

    def reference_seconds(self, spec: ShotSpec, offer: Offer) -> float:
        return work_units(spec) * BASE_SECONDS_PER_UNIT[offer.name]

    def seconds_per_unit(self, offer: Offer, instance: SimInstance) -> float:
        """The instance's true mean speed on a model, in the unit the router measures."""
        return BASE_SECONDS_PER_UNIT[offer.name] * instance.slowness

    def expected_seconds(self, spec: ShotSpec, offer: Offer, instance: SimInstance) -> float:
        """Its time there without the noise (the noise averages 1): what a perfect speed model predicts."""
        return work_units(spec) * self.seconds_per_unit(offer, instance)

    def seconds(self, spec: ShotSpec, offer: Offer, instance: SimInstance) -> float:
        key = (spec.shot_id, instance.name)
        if key not in self._noise:  # drawn from the pair alone: the same world whoever asks first
            self._noise[key] = random.Random(f"{self.seed}/{spec.shot_id}/{instance.name}").uniform(0.9, 1.1)
        return self.expected_seconds(spec, offer, instance) * self._noise[key]


def offer_for(spec: ShotSpec) -> Offer:
    """The model a shot needs (drafts the 5B, finals the 14B, stills Flux): the router picks by
    tier and quality first, and every baseline uses the same model, so all compare like for like."""
    if spec.media == MediaKind.IMAGE:
        return IMAGE
    return FINAL if spec.quality == Quality.FINAL else DRAFT


def fits(spec: ShotSpec, offer: Offer, instance: SimInstance) -> bool:
    needs = ShotNeeds.of(spec)
    return offer.estimate_vram_gb(spec.width, spec.height, needs.frames) <= instance.vram_gb


def eligible(spec: ShotSpec, instances: Sequence[SimInstance]) -> list[SimInstance]:
    offer = offer_for(spec)
    return [inst for inst in instances if fits(spec, offer, inst)]


@dataclass
class FleetResult:
    makespan: float
    per_instance: dict[str, int]
    log: list[dict]


def views_of(instances: Sequence[SimInstance]) -> list[InstanceView]:
    return [
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
        for inst in instances
    ]


def simulate_router(
    shots: list[ShotSpec],
    world: TrueTimes,
    instances: Sequence[SimInstance] = INSTANCES,
    speeds: SpeedStats | None = None,
) -> FleetResult:
    """The live router and planner, all shots submitted at t=0, on a virtual clock. It learns
    speeds from the simulated completions, starting from nothing unless `speeds` is given."""
    by_name = {inst.name: inst for inst in instances}
    views = views_of(instances)
    router = Router(speeds=speeds if speeds is not None else SpeedStats())
    # As Scheduler.submit does: each shot is routed once when it arrives, and that estimate orders the queue.
    expected = {spec.shot_id: router.route(spec, views).scores[0].run_seconds for spec in shots}
    pending = list(shots)
    running: dict[str, dict[int, tuple[float, float]]] = {inst.name: {} for inst in instances}  # (started, expected)
    completions: list[tuple[float, int, str, ShotSpec, Offer, float]] = []
    now, sequence, makespan = 0.0, 0, 0.0
    per_instance = {inst.name: 0 for inst in instances}
    log: list[dict] = []
    while pending or completions:
        boards = {
            name: SlotBoard.of(
                by_name[name].slots, [max(exp - (now - start), 0.1 * exp, 0.5) for start, exp in jobs.values()]
            )
            for name, jobs in running.items()
        }
        order = longest_first(pending, lambda spec: expected[spec.shot_id], lambda spec: False)
        placements = plan_dispatch(order, boards, lambda spec, waits: router.route(spec, views, waits=waits))
        started: set[str] = set()
        for placement in list(placements):
            decision = placement.decision
            if decision.chosen is None:
                raise RuntimeError(f"no route in the simulation: {decision.explanation}")
            if not placement.start_now:
                continue
            spec, chosen = placement.job, decision.chosen
            started.add(spec.shot_id)
            seconds = world.seconds(spec, chosen.offer, by_name[chosen.instance_id])
            sequence += 1
            running[chosen.instance_id][sequence] = (now, decision.scores[0].run_seconds)
            heapq.heappush(completions, (now + seconds, sequence, chosen.instance_id, spec, chosen.offer, seconds))
            per_instance[chosen.instance_id] += 1
            log.append(
                {
                    "event": "routed",
                    "job_id": spec.shot_id,
                    "attempt": 1,
                    "submitted_at": 0.0,
                    **decision_record(decision),
                }
            )
        if started:
            pending = [spec for spec in pending if spec.shot_id not in started]
        finished, done, name, spec, offer, seconds = heapq.heappop(completions)
        now = makespan = finished
        router.speeds.record(name, offer.name, seconds, work_units(spec))
        del running[name][done]
    return FleetResult(makespan, per_instance, log)
