"""Decision latency over the whole decision path, beside a fixed pure-Python control.

One decision is what the scheduler does per binding: route over 50 candidates (10 instances x 5
offers, filters, scores and the sentence), the routing event's note on every candidate (each
accepted one's reason is written then), and the decision-log line (record and JSON). The
control is a fixed pure-Python workload timed in the same loop, interleaved, so a slow or busy
machine shows in both: a decision p99 far above its p50 while the control's is not would be the
code's own tail, the same spread in both is the machine's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shotcaller.backends.base import Backend, GenerationResult, Offer
from shotcaller.jobs.events import CandidateNote
from shotcaller.routing.decision_log import decision_record
from shotcaller.routing.health import CircuitBreakers
from shotcaller.routing.registry import InstanceView, Locality
from shotcaller.routing.router import Decision, Router
from shotcaller.routing.stats import SpeedStats
from shotcaller.shots import MediaKind, Quality, ShotSpec, make_spec

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


def router_and_shots() -> tuple[Router, list[InstanceView], dict[str, float], list[ShotSpec]]:
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
    return router, views, waits, specs


def whole_decision(router: Router, spec: ShotSpec, views: list[InstanceView], waits: dict[str, float]) -> str:
    """What the scheduler does per binding: route, note every candidate, write the log line."""
    decision: Decision = router.route(spec, views, waits=waits)
    notes = tuple(CandidateNote(v.candidate.label, v.accepted, v.reason) for v in decision.verdicts)
    record = {"event": "routed", "job_id": spec.shot_id, "attempt": 1, **decision_record(decision)}
    line = json.dumps(record, default=str, separators=(",", ":"))
    return line if notes else ""


def control_workload() -> int:
    """A fixed pure-Python job of about a decision's size: the same work every time."""
    total = 0
    for i in range(3000):
        total += (i * i) % 7
    return total


@dataclass(frozen=True)
class LatencyResult:
    candidates: int
    route_p50_ms: float  # route() alone, as the old benchmark timed it
    p50_ms: float  # the whole decision
    p99_ms: float
    max_ms: float
    control_p50_ms: float
    control_p99_ms: float
    control_max_ms: float
    log_line_bytes: int


def _timed(fn: Callable[[], object]) -> int:
    start = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - start


def measure(iterations: int = 5000, warmup: int = 500) -> LatencyResult:
    router, views, waits, specs = router_and_shots()
    for i in range(warmup):
        whole_decision(router, specs[i % len(specs)], views, waits)
        control_workload()
    route_only: list[int] = []
    whole: list[int] = []
    control: list[int] = []
    for i in range(iterations):  # interleaved: a busy moment hits all three alike
        spec = specs[i % len(specs)]
        route_only.append(_timed(lambda spec=spec: router.route(spec, views, waits=waits)))
        whole.append(_timed(lambda spec=spec: whole_decision(router, spec, views, waits)))
        control.append(_timed(control_workload))
    line_bytes = max(len(whole_decision(router, spec, views, waits).encode()) + 1 for spec in specs)
    return LatencyResult(
        len(views) * len(OFFERS),
        _percentile(route_only, 50) / 1e6,
        _percentile(whole, 50) / 1e6,
        _percentile(whole, 99) / 1e6,
        max(whole) / 1e6,
        _percentile(control, 50) / 1e6,
        _percentile(control, 99) / 1e6,
        max(control) / 1e6,
        line_bytes,
    )


def _percentile(samples: Sequence[int], pct: float) -> float:
    ordered = sorted(samples)
    return float(ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))])
