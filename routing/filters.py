"""Filters: small pure functions that reject a candidate with a reason a person understands, or pass it.

Each takes (shot, candidate, context) and returns None to pass or the reason to
reject. They run in FILTERS order and the first reason wins, so cheap and
obvious ones come first. `health_filter` is not in that list: the router asks it
last, once per instance, and keeps a candidate rejected only by it aside, to be
tried anyway when nothing else can make the shot.
"""

from __future__ import annotations

from collections.abc import Callable

from .candidates import Candidate, RouteContext, ShotNeeds
from .scorers import estimate_cost
from .segments import can_make_long_shots, segment_frames, too_long_reason

Filter = Callable[[ShotNeeds, Candidate, RouteContext], str | None]


def media_filter(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> str | None:
    if candidate.offer.media != shot.spec.media:
        return f"makes {candidate.offer.media.value}, not {shot.spec.media.value}"
    return None


def pin_filter(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> str | None:
    pin = shot.pin
    if not pin:
        return None
    names = (candidate.instance_id, candidate.instance.kind, candidate.offer.name, candidate.instance.name)
    if pin in (name.lower() for name in names):
        return None
    return f"the shot is pinned to '{shot.spec.backend_pin}'"


def init_image_filter(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> str | None:
    if candidate.offer.needs_init_image and not shot.spec.init_image:
        return f"its {candidate.offer_label} starts from an init image and the shot has none"
    return None


def frames_filter(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> str | None:
    """Too long for one run: fine if the offer continues itself (segments, windows), else the limit in seconds."""
    offer = candidate.offer
    limit = offer.max_frames
    if limit and shot.frames > limit:
        if not can_make_long_shots(offer):
            return too_long_reason(candidate.offer_label, limit, shot.frames, shot.spec.fps)
        if offer.continue_with and offer.continue_with != offer.name:
            missing = candidate.instance.missing.get(offer.continue_with)
            if missing or not any(o.name == offer.continue_with for o in candidate.instance.offers):
                reason = too_long_reason(candidate.offer_label, limit, shot.frames, shot.spec.fps)
                return f"{reason}, and the image to video template that would continue it is not there"
    return None  # a sound longer than the model makes is made in parts (segments.py)


def locality_filter(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> str | None:
    if ctx.policy.local_only and not candidate.instance.is_local:
        return f"is a cloud service and {ctx.policy.local_only_reason}"
    return None


def excluded_filter(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> str | None:
    found = ctx.exclusion(candidate)
    return None if found is None else f"already failed this job ({found.reason})"


def missing_model_filter(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> str | None:
    return candidate.instance.missing.get(candidate.offer.name)


def vram_filter(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> str | None:
    """Estimated need against the instance's free VRAM, and against what ran out of memory there lately."""
    offer, instance = candidate.offer, candidate.instance
    ceiling = instance.oom_ceilings.get(offer.name)
    if ceiling is not None and shot.units >= ceiling:
        return f"ran out of memory with its {candidate.offer_label} at this size or smaller recently"
    need = offer.estimate_vram_gb(shot.spec.width, shot.spec.height, segment_frames(offer, shot.frames))
    if instance.oom_gb is not None and need >= instance.oom_gb:
        return (
            f"its {candidate.offer_label} needs ~{need:.1f} GB at {shot.size} and a job needing"
            f" ~{instance.oom_gb:.1f} GB ran out of memory there recently"
        )
    free = instance.vram_free_gb
    if free is None:
        return None
    if need > free:
        return f"its {candidate.offer_label} needs ~{need:.1f} GB at {shot.size} and {free:.1f} GB are free"
    return None


def budget_filter(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> str | None:
    if ctx.budget_left is None:
        return None
    cost = estimate_cost(shot, candidate, ctx)
    if cost > 0 and cost > ctx.budget_left + 1e-9:
        left = max(0.0, ctx.budget_left)
        if ctx.budget_spent is not None:
            budget = ctx.policy.budget
            return (
                f"would cost ~{cost:.2f}: the project spent {ctx.budget_spent:.2f} of its {budget:.2f}, {left:.2f} left"
            )
        return f"would cost ~{cost:.2f} and {left:.2f} of the project's budget is left"
    return None


def health_filter(shot: ShotNeeds, candidate: Candidate, ctx: RouteContext) -> str | None:
    if ctx.health is None:
        return None
    reason = ctx.health.unavailable_reason(candidate.instance_id)
    return None if reason is None else f"is down: {reason}"


# Filters whose rejection a smaller job could avoid: when only they stand in the way, settings step down.
MEMORY_FILTERS = frozenset({"vram"})

FILTERS: tuple[tuple[str, Filter], ...] = (
    ("media", media_filter),
    ("pin", pin_filter),
    ("init_image", init_image_filter),
    ("frames", frames_filter),
    ("locality", locality_filter),
    ("excluded", excluded_filter),
    ("missing_model", missing_model_filter),
    ("vram", vram_filter),
    ("budget", budget_filter),
)
