"""The router: every instance x offer is a candidate; filters reject with a reason, scorers rank the rest.

Pure and thread-safe: it reads frozen instance views and the context it is given,
and keeps no state of its own between decisions (health and measured speed are
shared objects it only reads). Every decision carries the ranked candidates (the
first is chosen, the rest are the fallbacks in order), the verdict on every
candidate, and one sentence a person can read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..backends.base import Backend
from ..shots import Quality, ShotSpec
from .candidates import Candidate, Exclusion, RouteContext, ShotNeeds
from .filters import FILTERS, MEMORY_FILTERS, Filter, health_filter
from .health import CircuitBreakers
from .policy import RoutingPolicy, ScoreWeights
from .registry import InstanceView, kind_name, view_of
from .scorers import Score, describe, score
from .segments import plan_for, seconds_text
from .stats import SpeedStats


class Verdict:
    """The router's word on one candidate. An accepted candidate's reason is written only when read:
    most of them are never shown, and writing 50 sentences would cost more than the decision."""

    __slots__ = ("_reason", "_why", "accepted", "candidate", "filter", "resting", "score")

    def __init__(
        self,
        candidate: Candidate,
        accepted: bool,
        reason: str = "",
        filter: str = "",  # which filter rejected it; "" when accepted
        score: Score | None = None,
        resting: bool = False,  # rejected by health alone: still tried when nothing else fits
        why: tuple[ShotNeeds, RouteContext] | None = None,
    ) -> None:
        self.candidate = candidate
        self.accepted = accepted
        self.filter = filter
        self.score = score
        self.resting = resting
        self._reason = reason
        self._why = why

    @property
    def reason(self) -> str:
        if not self._reason and self._why is not None and self.score is not None:
            shot, ctx = self._why
            self._reason = describe(shot, self.candidate, ctx, self.score)
        return self._reason

    def __repr__(self) -> str:
        return f"Verdict({self.candidate.label!r}, accepted={self.accepted}, reason={self.reason!r})"


@dataclass(frozen=True)
class Decision:
    shot_id: str
    ranked: tuple[Candidate, ...]  # best first; the rest are the fallbacks in order
    verdicts: tuple[Verdict, ...]
    explanation: str
    scores: tuple[Score, ...] = ()  # aligned with `ranked`
    retry_in: float | None = None  # nothing fits now, but a timed exclusion lapses in this many seconds
    shot: ShotNeeds | None = None

    @property
    def chosen(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None

    @property
    def chosen_score(self) -> Score | None:
        return self.scores[0] if self.scores else None

    @property
    def chosen_resting(self) -> bool:
        """The chosen instance failed recently and is tried only because nothing else fits."""
        chosen = self.chosen
        return chosen is not None and any(v.resting and v.candidate is chosen for v in self.verdicts)

    @property
    def blocked_by_memory(self) -> bool:
        """Nothing fits, and a smaller job would fit somewhere: the settings may step down."""
        return not self.ranked and any(v.filter in MEMORY_FILTERS for v in self.verdicts)

    def to_record(self) -> dict[str, Any]:
        """Plain JSON data for the decision log (and for replaying it under another strategy)."""
        spec = self.shot.spec if self.shot else None
        chosen = self.chosen
        return {
            "shot_id": self.shot_id,
            "label": spec.label if spec else "",
            "media": spec.media.value if spec else "",
            "quality": spec.quality.value if spec else "",
            "width": spec.width if spec else 0,
            "height": spec.height if spec else 0,
            "frames": self.shot.frames if self.shot else 0,
            "units": round(self.shot.units, 4) if self.shot else 0,
            "chosen": None if chosen is None else {"instance": chosen.instance_id, "offer": chosen.offer.name},
            "explanation": self.explanation,
            "retry_in": self.retry_in,
            "candidates": [_verdict_record(v) for v in self.verdicts],
        }


def _verdict_record(verdict: Verdict) -> dict[str, Any]:
    candidate, scored = verdict.candidate, verdict.score
    record: dict[str, Any] = {
        "instance": candidate.instance_id,
        "kind": candidate.instance.kind,
        "offer": candidate.offer.name,
        "slots": candidate.instance.slots,
        "accepted": verdict.accepted,
        "reason": verdict.reason,
        "filter": verdict.filter,
    }
    if scored is not None:
        record.update(
            run_seconds=round(scored.run_seconds, 3),
            wait_seconds=round(scored.wait_seconds, 3),
            cost=round(scored.cost, 4),
            tier=scored.tier,
            quality=scored.quality,
            effective=round(scored.effective, 3),
            resting=verdict.resting,
        )
    return record


class Router:
    def __init__(
        self,
        health: CircuitBreakers | None = None,
        speeds: SpeedStats | None = None,
        filters: Sequence[tuple[str, Filter]] = FILTERS,
        weights: ScoreWeights | None = None,
    ) -> None:
        self.health = health if health is not None else CircuitBreakers()
        self.speeds = speeds if speeds is not None else SpeedStats()
        self.filters = tuple(filters)
        self.weights = weights or ScoreWeights()

    def route(
        self,
        spec: ShotSpec,
        fleet: Sequence[InstanceView | Backend],
        *,
        policy: RoutingPolicy | None = None,
        waits: Mapping[str, float] | None = None,
        excluded: Mapping[tuple[str, str], Exclusion] | None = None,
        budget_left: float | None = None,
        now: float = 0.0,
        budget_spent: float | None = None,
        known_costs: Mapping[tuple[str, str], float] | None = None,
    ) -> Decision:
        ctx = RouteContext(
            policy=policy or RoutingPolicy(),
            now=now,
            health=self.health,
            speeds=self.speeds,
            weights=self.weights,
            waits=waits or {},
            excluded=excluded or {},
            budget_left=budget_left,
            budget_spent=budget_spent,
            known_costs=known_costs or {},
        )
        views = [item if isinstance(item, InstanceView) else view_of(item) for item in fleet]
        shot = ShotNeeds.of(spec)
        final = spec.quality == Quality.FINAL
        verdicts: list[Verdict] = []
        accepted: list[tuple[tuple[int, float, float, int], Candidate, Score]] = []
        resting: list[tuple[tuple[int, float, float, int], Candidate, Score]] = []
        order = 0
        filters = self.filters
        for view in views:
            down: str | None = None
            down_known = False
            for offer in view.offers:
                candidate = Candidate(view, offer)
                order += 1
                for name, check in filters:
                    reason = check(shot, candidate, ctx)
                    if reason is not None:
                        verdicts.append(Verdict(candidate, False, reason, name))
                        break
                else:
                    if not down_known:  # health is per instance: asked once, not once per offer
                        down, down_known = health_filter(shot, candidate, ctx), True
                    scored = score(shot, candidate, ctx)
                    entry = (scored.key(final, order), candidate, scored)
                    if down is not None:
                        verdicts.append(Verdict(candidate, False, down, "health", scored, resting=True))
                        resting.append(entry)
                    else:
                        verdicts.append(Verdict(candidate, True, "", "", scored, why=(shot, ctx)))
                        accepted.append(entry)
        used_resting = not accepted and bool(resting)
        chosen = accepted or resting  # a server that failed a minute ago may be back: better than refusing
        chosen.sort(key=lambda item: item[0])
        ranked = tuple(item[1] for item in chosen)
        scores = tuple(item[2] for item in chosen)
        retry_in = ctx.retry_in() if not ranked else None
        decision = Decision(spec.shot_id, ranked, tuple(verdicts), "", scores, retry_in, shot)
        explanation = explain(decision, views, ctx, used_resting)
        return Decision(spec.shot_id, ranked, tuple(verdicts), explanation, scores, retry_in, shot)


def explain(decision: Decision, views: Sequence[InstanceView], ctx: RouteContext, used_resting: bool) -> str:
    """One sentence: where it goes and why, what was skipped and why, how many fallbacks remain."""
    assert decision.shot is not None
    media = decision.shot.spec.media.value
    if not views:
        return "No backend is configured: add a ComfyUI URL (or another backend) in Shotcaller's preferences."
    rejected = [v for v in decision.verdicts if not v.accepted]
    if not decision.ranked:
        if not decision.verdicts:
            return f"No backend offers any template for {media}."
        relevant = [v for v in rejected if v.filter != "media"] or rejected
        # An image-to-video offer for a shot without an image says nothing about what to change
        # when another reason stands: it stays in the candidate details, out of the headline.
        relevant = [v for v in relevant if v.filter not in _DETAIL_ONLY] or relevant
        reasons = "; ".join(_dedupe(f"{v.candidate.instance.name}: {v.reason}" for v in relevant)[:4])
        sentence = f"No backend can make this {media} shot ({reasons})"
        if decision.retry_in is not None:
            sentence += f"; trying again in {decision.retry_in:.0f} s"
        return sentence + "." + way_forward(decision.shot, relevant)
    chosen, scored = decision.ranked[0], decision.scores[0]
    verdict = next(v for v in decision.verdicts if v.candidate is chosen)
    why = verdict.reason
    if used_resting:
        # Its breaker's wait is what keeps work away from it when something else can take the shot: here
        # nothing can, so the wait is not worth saying, only what went wrong there last.
        down = ctx.health.status(chosen.instance_id).reason if ctx.health is not None else ""
        down = f" ({down})" if down else ""
        described = describe(decision.shot, chosen, ctx, scored)
        why = f"{described}; it was down{down} and is tried anyway as nothing else fits"
    sentence = f"{chosen.instance.name}: {why}"
    plan = plan_for(chosen.offer, decision.shot.spec.frame_count, decision.shot.spec.fps)
    if plan is not None and plan.count > 1:
        how = plan.describe() + (" in one job" if plan.mode == "windows" else "")
        where = f"{kind_name(chosen.instance.kind)} {chosen.instance_id}"
        sentence = f"{how} with {chosen.offer.model or chosen.offer_label} on {where}: {why}"
    # Worth a clause: why the other instances lost (memory, health, money, locality), not that an
    # image template cannot make video or an image-to-video one needs an init image the shot lacks.
    worth_saying = [v for v in rejected if v.filter in _SKIP_REASONS_SHOWN and not (used_resting and v.resting)]
    worth_saying.sort(key=lambda v: (v.candidate.instance_id == chosen.instance_id, _SKIP_REASONS_SHOWN[v.filter]))
    skipped = _dedupe(f"{v.candidate.instance.name} skipped: {v.reason}" for v in worth_saying)
    if skipped:
        sentence += "; " + "; ".join(skipped[:3])
    fallbacks = real_fallbacks(decision, used_resting)
    if fallbacks:
        sentence += f"; {fallbacks} fallback{'' if fallbacks == 1 else 's'}"
    return sentence + "."


def real_fallbacks(decision: Decision, used_resting: bool) -> int:
    """How many ranked candidates would be tried if the chosen one fails. On a server that was down
    and is tried anyway, its failing is the server's: its other templates are not tried after it
    (a server that cannot be reached is left for the whole job), so they are no fallbacks."""
    chosen = decision.ranked[0]
    others = decision.ranked[1:]
    if used_resting:
        others = tuple(c for c in others if c.instance_id != chosen.instance_id)
    return len(others)


_DETAIL_ONLY = frozenset({"init_image"})


def way_forward(shot: ShotNeeds, relevant: Sequence[Verdict]) -> str:
    """What would make a refused shot possible, said once after the reasons ('' when nothing general helps)."""
    filters = {v.filter for v in relevant}
    spec = shot.spec
    if "frames" in filters:
        longest = max((v.candidate.offer.max_frames for v in relevant if v.filter == "frames"), default=0)
        return (
            f" Make the strip at most {seconds_text(longest, spec.fps)} long, or add a server with the"
            " model's image to video template (long shots are made in segments that continue each other),"
            " or add a template of your own that makes longer takes."
        )
    if "init_image" in filters:
        return " Set an init image on the shot, or add a server with a text to video template."
    return ""


_SKIP_REASONS_SHOWN = {
    "vram": 0,
    "missing_model": 1,
    "health": 2,
    "excluded": 3,
    "budget": 4,
    "locality": 5,
    "frames": 6,
    "pin": 7,
}


def _dedupe(items: Any) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
