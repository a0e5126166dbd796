"""First router: every backend instance x offer is a candidate; filters reject, a scorer ranks.

Pure and thread-safe. The full engine (VRAM fit, measured speed, pools, budget)
grows from the same shape: a filter is a function returning a reason to reject
or None; the score orders what is left. Every decision carries a sentence a
person can read and the verdict on each candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..backends.base import Backend, Offer
from ..shots import ShotSpec
from .health import HealthBook


@dataclass(frozen=True)
class Candidate:
    backend: Backend
    offer: Offer

    @property
    def label(self) -> str:
        return f"{self.backend.display_name} with {self.offer.label or self.offer.name}"


@dataclass(frozen=True)
class Verdict:
    candidate: Candidate
    accepted: bool
    reason: str
    score: float = 0.0


@dataclass(frozen=True)
class Decision:
    shot_id: str
    ranked: tuple[Candidate, ...]  # best first; the rest are the fallbacks in order
    verdicts: tuple[Verdict, ...]
    explanation: str

    @property
    def chosen(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None


Filter = Callable[[ShotSpec, Candidate, HealthBook], str | None]


def media_filter(spec: ShotSpec, candidate: Candidate, health: HealthBook) -> str | None:
    if candidate.offer.media != spec.media:
        return f"makes {candidate.offer.media.value}, not {spec.media.value}"
    return None


def pin_filter(spec: ShotSpec, candidate: Candidate, health: HealthBook) -> str | None:
    pin = (spec.backend_pin or "").strip()
    if not pin:
        return None
    backend = candidate.backend
    if pin in (backend.instance_id, backend.kind, candidate.offer.name):
        return None
    return f"the shot is pinned to '{pin}'"


def health_filter(spec: ShotSpec, candidate: Candidate, health: HealthBook) -> str | None:
    return health.unavailable_reason(candidate.backend.instance_id)


DEFAULT_FILTERS: tuple[Filter, ...] = (media_filter, pin_filter)


def quality_score(spec: ShotSpec, candidate: Candidate) -> tuple[float, str]:
    if candidate.offer.quality == spec.quality:
        return 2.0, f"{candidate.offer.quality.value} template for a {spec.quality.value} shot"
    return 1.0, (
        f"no {spec.quality.value} template available, using its {candidate.offer.quality.value} one"
    )


class Router:
    def __init__(self, health: HealthBook | None = None, filters: Sequence[Filter] = DEFAULT_FILTERS):
        self.health = health or HealthBook()
        self.filters = tuple(filters)

    def candidates(self, backends: Sequence[Backend]) -> list[Candidate]:
        return [Candidate(backend, offer) for backend in backends for offer in backend.offers()]

    def route(self, spec: ShotSpec, backends: Sequence[Backend]) -> Decision:
        verdicts: list[Verdict] = []
        accepted: list[tuple[float, int, Candidate, str]] = []
        resting: list[tuple[float, int, Candidate, str]] = []  # fit, but their instance failed recently
        for order, candidate in enumerate(self.candidates(backends)):
            reason = self._first_rejection(spec, candidate)
            if reason is not None:
                verdicts.append(Verdict(candidate, False, reason))
                continue
            score, why = quality_score(spec, candidate)
            down = health_filter(spec, candidate, self.health)
            if down is not None:
                verdicts.append(Verdict(candidate, False, down, score))
                resting.append((score, order, candidate, f"{why}; {down}, tried again as nothing else fits"))
                continue
            verdicts.append(Verdict(candidate, True, why, score))
            accepted.append((score, order, candidate, why))
        if not accepted:
            # A server that failed a minute ago may be back (the user just started it): better
            # to try it than to refuse the shot outright.
            accepted = resting
        # Stable: equal scores keep the configured order of instances and templates.
        accepted.sort(key=lambda item: (-item[0], item[1]))
        ranked = tuple(item[2] for item in accepted)
        explanation = _explain(spec, ranked, accepted, verdicts, backends)
        return Decision(spec.shot_id, ranked, tuple(verdicts), explanation)

    def _first_rejection(self, spec: ShotSpec, candidate: Candidate) -> str | None:
        for check in self.filters:
            reason = check(spec, candidate, self.health)
            if reason is not None:
                return reason
        return None


def _explain(
    spec: ShotSpec,
    ranked: tuple[Candidate, ...],
    accepted: list[tuple[float, int, Candidate, str]],
    verdicts: list[Verdict],
    backends: Sequence[Backend],
) -> str:
    rejected = [v for v in verdicts if not v.accepted]
    if not backends:
        return "No backend is configured: add a ComfyUI URL in Shotcaller's preferences."
    if not ranked:
        if not verdicts:
            return f"No backend offers any template for {spec.media.value}."
        reasons = "; ".join(f"{v.candidate.label}: {v.reason}" for v in rejected)
        return f"No backend can make this {spec.media.value} shot ({reasons})."
    best = accepted[0]
    sentence = f"{best[2].label}: {best[3]}"
    skipped = [v for v in rejected if v.candidate.offer.media == spec.media]
    if skipped:
        sentence += "; skipped " + "; ".join(f"{v.candidate.label} ({v.reason})" for v in skipped[:3])
    if len(ranked) > 1:
        sentence += f"; {len(ranked) - 1} fallback(s)"
    return sentence + "."
