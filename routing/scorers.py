"""Scorers: small pure functions that say how good an accepted candidate is, each with its reason.

Ranking, best first: the shot's own tier (a draft template for a draft), then for
finals the highest quality (largest model) that fits, then the lowest effective
time: expected seconds (wait for a slot + run time from measured speed) made a
little longer for remote instances and for money. For drafts that makes the
fastest acceptable candidate win; within a pool it balances load, because a
busy instance's wait grows with its queue.
"""

from __future__ import annotations

from typing import NamedTuple

from ..shots import Quality
from .candidates import Candidate, RouteContext, ShotNeeds
from .registry import Locality
from .segments import segment_frames
from .stats import SpeedEstimate


class Score(NamedTuple):
    tier: int  # 0: a template of the shot's own tier
    quality: float  # finals: the model's size, the best quality signal an offer carries; drafts: 0
    run_seconds: float
    wait_seconds: float
    cost: float
    effective: float  # orders candidates of the same tier and quality: lower is better
    speed_source: str

    @property
    def expected_seconds(self) -> float:
        return self.wait_seconds + self.run_seconds

    def key(self, final: bool, order: int) -> tuple[int, float, float, int]:
        return (self.tier, -self.quality if final else 0.0, self.effective, order)


def tier_score(shot: ShotNeeds, candidate: Candidate) -> tuple[int, str]:
    wanted, offered = shot.spec.quality, candidate.offer.quality
    if offered == wanted:
        return 0, f"{offered.value} template for a {wanted.value} shot"
    return 1, f"no {wanted.value} template available, using its {offered.value} one"


def quality_score(shot: ShotNeeds, candidate: Candidate) -> tuple[float, str]:
    """Finals want the best model that fits; model size is the quality signal offers carry."""
    if shot.spec.quality != Quality.FINAL:
        return 0.0, ""
    size = candidate.offer.vram_base_gb or candidate.offer.vram_gb
    return size, (f"the largest model that fits (~{size:.0f} GB class)" if size else "")


def speed_estimate(candidate: Candidate, ctx: RouteContext) -> SpeedEstimate:
    return ctx.speeds.estimate(candidate.instance_id, candidate.offer)


def run_seconds(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> float:
    """Measured seconds per unit of work (a moving average) times this shot's work."""
    return speed_estimate(candidate, ctx).seconds_per_unit * shot.units


def wait_seconds(candidate: Candidate, ctx: RouteContext) -> float:
    """Until a slot is ours: our own queue there (from the scheduler), plus other people's jobs on it."""
    instance = candidate.instance
    wait = ctx.waits.get(instance.instance_id, 0.0)
    if instance.foreign_queue:
        wait += instance.foreign_queue * ctx.speeds.mean_job_seconds(instance.instance_id) / max(1, instance.slots)
    return wait


def locality_factor(candidate: Candidate, ctx: RouteContext) -> tuple[float, str]:
    locality = candidate.instance.locality
    if locality is Locality.THIS_MACHINE:
        return 1.0, "on this machine"
    factor = 1.0 + ctx.weights.remote_penalty
    return factor, ("on the local network" if locality is Locality.LOCAL_NETWORK else "in the cloud")


def estimate_cost(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> float:
    instance = candidate.instance
    if not instance.cost_per_second and not instance.cost_per_shot:
        return ctx.known_costs.get((instance.instance_id, candidate.offer.name), 0.0) if ctx.known_costs else 0.0
    return instance.cost_per_shot + instance.cost_per_second * run_seconds(shot, candidate, ctx)


def score(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> Score:
    """All scorers at once, without their sentences (those are written only for what is shown)."""
    offer, instance, spec = candidate.offer, candidate.instance, shot.spec
    tier = 0 if offer.quality == spec.quality else 1
    quality = (offer.vram_base_gb or offer.vram_gb) if spec.quality == Quality.FINAL else 0.0
    speed = ctx.speeds.estimate(instance.instance_id, offer)
    run = speed.seconds_per_unit * shot.units
    wait = wait_seconds(candidate, ctx)
    factor = 1.0 if instance.locality is Locality.THIS_MACHINE else 1.0 + ctx.weights.remote_penalty
    if instance.cost_per_second or instance.cost_per_shot:
        cost = instance.cost_per_shot + instance.cost_per_second * run
    else:
        cost = ctx.known_costs.get((instance.instance_id, offer.name), 0.0) if ctx.known_costs else 0.0
    effective = (wait + run) * factor + cost * ctx.weights.seconds_per_cost_unit
    return Score(tier, quality, run, wait, cost, effective, speed.source)


def describe(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext, scored: Score) -> str:
    """Why an accepted candidate is good, as the clauses of one sentence."""
    parts = [tier_score(shot, candidate)[1]]
    quality = quality_score(shot, candidate)[1]
    if quality:
        parts.append(quality)
    fit = fit_note(shot, candidate)
    if fit:
        parts.append(fit)
    timing = about_seconds(scored.expected_seconds)
    if scored.wait_seconds >= 1:
        timing += f" ({seconds_text(scored.wait_seconds)} waiting for a slot)"
    if scored.speed_source != "measured":
        timing += f", speed {scored.speed_source}"
    parts.append(timing)
    parts.append(locality_factor(candidate, ctx)[1])
    if scored.cost:
        parts.append(f"costs ~{scored.cost:.2f}")
    return ", ".join(parts)


def fit_note(shot: ShotNeeds, candidate: Candidate) -> str:
    free = candidate.instance.vram_free_gb
    frames = segment_frames(candidate.offer, shot.frames)
    need = candidate.offer.estimate_vram_gb(shot.spec.width, shot.spec.height, frames)
    if free is None or not need:
        return ""
    return f"{free:.1f} GB free fits {candidate.offer_label} at {shot.size} (needs ~{need:.1f} GB)"


def about_seconds(seconds: float) -> str:
    """'about 16 s', or 'under a second' for a time that would read 'about 0 s'."""
    return "under a second" if round(seconds) < 1 else f"about {seconds_text(seconds)}"


def seconds_text(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
