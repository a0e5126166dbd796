"""Measured speed per backend instance and model, as a moving average, and how big a job is.

Speed is kept as seconds per unit of work (megapixel-frames for video, megapixels for
a still, seconds for sound), so one measurement at 832x480x49 predicts 1280x720x81.
An instance that never ran a model borrows what the others measured, scaled by how
fast that instance is on the models it did run: a new box in a pool of identical
boxes is assumed to be like them, a slow box stays slow on a new model.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ..backends.base import Offer
from ..shots import MediaKind, ShotSpec

# Before anything was measured: about 2.5 s per megapixel-frame for an 8 GB-class model (Wan 2.2
# 5B on a desktop GPU); bigger models are slower in proportion to their size.
DEFAULT_SECONDS_PER_UNIT = 2.5
REFERENCE_MODEL_GB = 8.0


def work_units(spec: ShotSpec) -> float:
    """How much work a shot is, in the unit speeds are measured in. Never zero."""
    if spec.media in (MediaKind.AUDIO, MediaKind.MUSIC):
        return max(0.1, spec.duration_seconds)
    frames = spec.frame_count if spec.media == MediaKind.VIDEO else 1
    return max(0.01, spec.width * spec.height / 1_000_000 * frames)


def frames_of(spec: ShotSpec) -> int:
    return spec.frame_count if spec.media == MediaKind.VIDEO else 1


def prior_seconds_per_unit(offer: Offer) -> float:
    size = offer.vram_base_gb or offer.vram_gb
    return DEFAULT_SECONDS_PER_UNIT * max(1.0, size / REFERENCE_MODEL_GB)


@dataclass(frozen=True)
class SpeedEstimate:
    seconds_per_unit: float
    source: str  # "measured", "like the other instances", "assumed": said in explanations
    samples: int = 0


class SpeedStats:
    """Thread-safe EMA of seconds per work unit for each (instance, offer name)."""

    def __init__(self, alpha: float = 0.3) -> None:
        self.alpha = alpha
        self._ema: dict[tuple[str, str], tuple[float, int]] = {}
        self._job_seconds: dict[str, float] = {}  # per instance, to price someone else's queue there
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], SpeedEstimate] = {}

    def record(self, instance_id: str, offer_name: str, seconds: float, units: float) -> None:
        if seconds <= 0 or units <= 0:
            return
        rate = seconds / units
        key = (instance_id, offer_name)
        with self._lock:
            old = self._ema.get(key)
            self._ema[key] = (rate, 1) if old is None else (old[0] + self.alpha * (rate - old[0]), old[1] + 1)
            job = self._job_seconds.get(instance_id)
            self._job_seconds[instance_id] = seconds if job is None else job + self.alpha * (seconds - job)
            self._cache.clear()

    def seed(self, measured: Mapping[tuple[str, str], float]) -> None:
        """Start from earlier measurements (a replayed log, a benchmark's warm start)."""
        with self._lock:
            for key, rate in measured.items():
                self._ema[key] = (rate, 1)
            self._cache.clear()

    def estimate(self, instance_id: str, offer: Offer) -> SpeedEstimate:
        key = (instance_id, offer.name)
        cached = self._cache.get(key)  # routing asks the same question many times between records
        if cached is not None:
            return cached
        with self._lock:
            estimate = self._estimate_locked(instance_id, offer)
            self._cache[key] = estimate
        return estimate

    def _estimate_locked(self, instance_id: str, offer: Offer) -> SpeedEstimate:
        own = self._ema.get((instance_id, offer.name))
        if own is not None:
            return SpeedEstimate(own[0], "measured", own[1])
        others = [rate for (inst, name), (rate, _) in self._ema.items() if name == offer.name and inst != instance_id]
        if others:
            mean = sum(others) / len(others)
            return SpeedEstimate(mean * self._relative_speed(instance_id), "like the other instances")
        return SpeedEstimate(prior_seconds_per_unit(offer) * self._relative_speed(instance_id), "assumed")

    def _relative_speed(self, instance_id: str) -> float:
        """How much slower (>1) or faster (<1) this instance was than the rest on the models both ran."""
        ratios = []
        for (inst, name), (rate, _) in self._ema.items():
            if inst != instance_id:
                continue
            others = [r for (i, n), (r, _) in self._ema.items() if n == name and i != instance_id]
            if others:
                ratios.append(rate / (sum(others) / len(others)))
        return sum(ratios) / len(ratios) if ratios else 1.0

    def mean_job_seconds(self, instance_id: str, default: float = 60.0) -> float:
        """A typical job's length there, to turn someone else's queue on that server into seconds."""
        return self._job_seconds.get(instance_id, default)

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            out: dict[str, dict[str, float]] = {}
            for (inst, name), (rate, _) in self._ema.items():
                out.setdefault(inst, {})[name] = rate
            return out
