"""The router's vocabulary: a candidate (instance x offer), the shot's needs, and the routing context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ..backends.base import Backend, Offer
from ..shots import ShotSpec
from .health import CircuitBreakers
from .policy import RoutingPolicy, ScoreWeights
from .registry import InstanceView
from .stats import SpeedStats, frames_of, work_units

ANY_OFFER = "*"  # an exclusion for a whole instance, whatever it offers


class Candidate(NamedTuple):
    """A tuple rather than a dataclass: routing makes one per instance x offer per decision."""

    instance: InstanceView
    offer: Offer

    @property
    def backend(self) -> Backend:
        return self.instance.backend

    @property
    def instance_id(self) -> str:
        return self.instance.instance_id

    @property
    def offer_label(self) -> str:
        return self.offer.label or self.offer.name

    @property
    def label(self) -> str:
        return f"{self.instance.name} with {self.offer_label}"


@dataclass(frozen=True, slots=True)
class ShotNeeds:
    """A shot plus the numbers every filter and scorer asks for, computed once per decision."""

    spec: ShotSpec
    units: float
    frames: int
    pin: str = ""  # the backend pin, lower case

    @classmethod
    def of(cls, spec: ShotSpec) -> ShotNeeds:
        return cls(spec, work_units(spec), frames_of(spec), (spec.backend_pin or "").strip().lower())

    @property
    def size(self) -> str:
        """'832x480, 49 frames' (or just the resolution for a still)."""
        spec = self.spec
        return f"{spec.width}x{spec.height}" + (f", {self.frames} frames" if self.frames > 1 else "")


@dataclass(frozen=True)
class Exclusion:
    """A job's own memory of where it failed: `until` None means for the rest of the job."""

    reason: str
    until: float | None = None


@dataclass
class RouteContext:
    """Everything besides the shot and the fleet a decision depends on. Built per decision or plan."""

    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    now: float = 0.0
    health: CircuitBreakers | None = None
    speeds: SpeedStats = field(default_factory=SpeedStats)
    weights: ScoreWeights = field(default_factory=ScoreWeights)
    waits: Mapping[str, float] = field(default_factory=dict)  # seconds until the instance can start a job
    excluded: Mapping[tuple[str, str], Exclusion] = field(default_factory=dict)  # (instance, offer or "*")
    budget_left: float | None = None  # None: no budget
    budget_spent: float | None = None  # what the project spent so far, for the budget's message
    known_costs: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (instance, offer) -> this
    # shot's expected cost where no rate is configured, learned from what the service reported before

    def exclusion(self, candidate: Candidate) -> Exclusion | None:
        if not self.excluded:
            return None
        for key in ((candidate.instance_id, candidate.offer.name), (candidate.instance_id, ANY_OFFER)):
            found = self.excluded.get(key)
            if found is not None and (found.until is None or self.now < found.until):
                return found
        return None

    def retry_in(self) -> float | None:
        """Seconds until the first timed exclusion lapses (a busy server may free up), None if none will."""
        times = [ex.until - self.now for ex in self.excluded.values() if ex.until is not None and ex.until > self.now]
        return min(times) if times else None
