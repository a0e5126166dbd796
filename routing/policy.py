"""What a project asks of routing, and how the router weighs time against locality and money.

Plain frozen data: a job carries the policy it was submitted with, so changing a
project's settings never changes where a job already queued may go.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RoutingPolicy:
    """Per-project routing wishes (the Blender layer reads them from the scene or preferences)."""

    allow_cloud: bool = True  # the project setting: may shots leave the user's own machines?
    force_local: bool = False  # the per-project quick switch ("eco" mode): never the cloud, whatever the setting
    budget: float = 0.0  # the project's money budget in the instances' cost unit; 0 = no limit
    already_spent: float = 0.0  # spent on this project before this session (the Blender layer keeps the total)

    @property
    def local_only(self) -> bool:
        return self.force_local or not self.allow_cloud

    @property
    def local_only_reason(self) -> str:
        if self.force_local:
            return "'force local' is on for this project"
        return "the project does not allow cloud backends"


@dataclass(frozen=True)
class ScoreWeights:
    """How soft preferences turn into seconds, so one number ranks candidates of the same tier.

    A remote instance's time counts `remote_penalty` more (uploads, downloads, someone else's box);
    one unit of money counts as `seconds_per_cost_unit` seconds of waiting.
    """

    remote_penalty: float = 0.15
    seconds_per_cost_unit: float = 300.0
