"""Decision latency: one routing decision over 50 candidates (10 instances x 5 offers)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from shotcaller.backends.base import Backend, GenerationResult, Offer
from shotcaller.routing.health import CircuitBreakers
from shotcaller.routing.registry import InstanceView, Locality
from shotcaller.routing.router import Router
from shotcaller.routing.stats import SpeedStats
from shotcaller.shots import MediaKind, Quality, make_spec

OFFERS = (
    Offer(
        "wan5b_t2v", MediaKind.VIDEO, Quality.DRAFT, "Wan 2.2 TI2V 5B", vram_base_gb=8, vram_per_megapixel_frame_gb=0.08
    ),
    Offer("wan5b_i2v", MediaKind.VIDEO, Quality.DRAFT, "Wan 2.2 TI2V 5B i2v", vram_base_gb=8, needs_init_image=True),
    Offer(
        "wan14b_t2v",
        MediaKind.VIDEO,
        Quality.FINAL,
        "Wan 2.2 14B",
        vram_base_gb=18,
        vram_per_megapixel_frame_gb=0.1,
        max_frames=121,
    ),
    Offer("flux_t2i", MediaKind.IMAGE, Quality.FINAL, "Flux.1 dev", vram_base_gb=12),
    Offer("stable_audio", MediaKind.AUDIO, Quality.DRAFT, "Stable Audio Open", vram_base_gb=6),
)


class InertBackend(Backend):
    """Routing only reads views; this backend is never run."""

    kind = "comfyui"

    def offers(self) -> list[Offer]:
        return list(OFFERS)

    def run(self, request, report, cancel) -> GenerationResult:  # type: ignore[no-untyped-def]
        raise NotImplementedError


def fleet_of(instances: int = 10) -> list[InstanceView]:
    views = []
    for i in range(instances):
        views.append(
            InstanceView(
                backend=InertBackend(f"gpu-box-{i}"),
                instance_id=f"gpu-box-{i}",
                kind="comfyui",
                offers=OFFERS,
                locality=Locality.THIS_MACHINE if i == 0 else Locality.LOCAL_NETWORK if i < 8 else Locality.CLOUD,
                slots=1 + i % 2,
                vram_free_gb=(12.0, 24.0, 48.0)[i % 3],
                vram_source="reported by ComfyUI",
                cost_per_second=0.002 if i >= 8 else 0.0,
                foreign_queue=i % 3,
            )
        )
    return views


@dataclass(frozen=True)
class LatencyResult:
    candidates: int
    p50_ms: float
    p99_ms: float


def measure(iterations: int = 5000, warmup: int = 500) -> LatencyResult:
    views = fleet_of()
    speeds = SpeedStats()
    for i, view in enumerate(views[:6]):  # some measured, some not: both estimate paths are exercised
        speeds.record(view.instance_id, "wan5b_t2v", 20.0 + i, 10.0)
    router = Router(CircuitBreakers(), speeds)
    router.health.record_failure("gpu-box-9", "unreachable", decisive=True)
    waits = {view.instance_id: float(i * 7 % 40) for i, view in enumerate(views)}
    specs = [
        make_spec(
            shot_id=f"shot{i:08d}",
            prompt="rain on a window",
            quality=("draft", "final")[i % 2],
            width=(832, 1280)[i % 2],
            height=(480, 720)[i % 2],
        )
        for i in range(8)
    ]
    for i in range(warmup):
        router.route(specs[i % len(specs)], views, waits=waits)
    samples: list[int] = []
    for i in range(iterations):
        start = time.perf_counter_ns()
        router.route(specs[i % len(specs)], views, waits=waits)
        samples.append(time.perf_counter_ns() - start)
    return LatencyResult(len(views) * len(OFFERS), _percentile(samples, 50) / 1e6, _percentile(samples, 99) / 1e6)


def _percentile(samples: Sequence[int], pct: float) -> float:
    ordered = sorted(samples)
    return float(ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))])
