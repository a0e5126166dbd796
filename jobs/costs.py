"""What a finished job cost, and what a project has left.

A job costs what its service reported (LiteLLM's `x-litellm-response-cost`), or, for a server
with a configured rate, the rate applied to its run time on the server: ComfyUI's own history
says when it started and stopped executing the prompt, so time spent waiting in its queue is not
charged. Spending is summed per project in its journal (across sessions and restarts) and kept
on the scene too.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..backends.base import GenerationResult
from ..routing.registry import InstanceView, kind_name
from ..shots import MediaKind, ShotSpec
from .journal import Journal


def actual_cost(result: GenerationResult, instance: InstanceView, measured_seconds: float) -> tuple[float, str, float]:
    """(cost, where the number comes from, run seconds) of one finished attempt."""
    run = result.run_seconds if result.run_seconds is not None else measured_seconds
    if result.cost is not None:
        return result.cost, f"reported by {kind_name(instance.kind)}", run
    if instance.cost_per_second or instance.cost_per_shot:
        cost = instance.cost_per_shot + instance.cost_per_second * run
        parts = []
        if instance.cost_per_shot:
            parts.append(f"{instance.cost_per_shot:g} per shot")
        if instance.cost_per_second:
            where = "on the server" if result.run_seconds is not None else "measured"
            parts.append(f"{instance.cost_per_second:g}/s x {run:.1f} s of run time {where}")
        return cost, "configured rate: " + " + ".join(parts), run
    return 0.0, "", run


def expected_cost(journal: Journal, spec: ShotSpec, kind: str, offer: str) -> float | None:
    """What this shot should cost on an offer without a configured rate, from the last price its
    service reported (videos scale with their length). None: no price was ever reported."""
    price = journal.last_price(kind, offer)
    if price is None:
        return None
    cost, seconds = price
    if spec.media is MediaKind.VIDEO and seconds > 0:  # priced per second of video
        return cost * spec.duration_seconds / seconds
    return cost


def known_costs(journal: Journal, spec: ShotSpec, views: Iterable[InstanceView]) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for view in views:
        if view.cost_per_second or view.cost_per_shot:
            continue
        for offer in view.offers:
            cost = expected_cost(journal, spec, view.kind, offer.name)
            if cost is not None:
                found[(view.instance_id, offer.name)] = cost
    return found


def budget_sentence(budget: float, spent: float, estimate: float | None = None) -> str:
    """'Spent 0.04 of the project's budget of 0.05, 0.01 left; this shot would cost ~0.04.'"""
    left = max(0.0, budget - spent)
    text = f"Spent {spent:.2f} of the project's budget of {budget:.2f}, {left:.2f} left"
    if estimate is not None:
        text += f"; this shot would cost ~{estimate:.2f}"
    return text + "."
