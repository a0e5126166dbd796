"""Turning ComfyUI's per-node progress into one bar that only moves forward.

Every node of the prompt counts equally and a node's share is value/max, the
way ComfyUI-Blender weighs `progress_state`. The sampler then moves the bar step
by step, while a fast loader node does not leave it stuck or make it jump back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..base import Progress, ProgressCallback

# The bar's parts: preflight and queueing, then the graph running, then downloading.
RUN_START = 0.05
RUN_END = 0.95


class MonotonicReporter:
    """Forwards Progress to the scheduler, never letting the fraction go down."""

    def __init__(self, report: ProgressCallback) -> None:
        self._report = report
        self.fraction = 0.0
        self.message = ""

    def update(self, fraction: float, message: str | None = None, preview_png: bytes | None = None) -> None:
        fraction = min(1.0, max(self.fraction, fraction))
        message = self.message if message is None else message
        moved = fraction - self.fraction >= 0.001 or message != self.message
        self.fraction, self.message = fraction, message
        if moved or preview_png is not None or fraction == 1.0:
            self._report(Progress(fraction, message, preview_png))


class NodeProgress:
    """How far the graph is, from progress_state, progress, executing and execution_cached events."""

    def __init__(self, node_classes: Mapping[str, str]) -> None:
        self._classes = dict(node_classes)
        self._done: dict[str, float] = {}
        self._current: str | None = None

    @property
    def fraction(self) -> float:
        # Subgraph expansion can report nodes the prompt did not list, so the total grows with them.
        total = max(1, len(set(self._classes) | set(self._done)))
        return sum(self._done.values()) / total

    def overall(self) -> float:
        return RUN_START + (RUN_END - RUN_START) * self.fraction

    def describe(self, node_id: str | None) -> str:
        if node_id is None:
            return "running"
        class_type = self._classes.get(node_id)
        return f"running {class_type} (node {node_id})" if class_type else f"running node {node_id}"

    def cached(self, nodes: Iterable[Any]) -> None:
        for node_id in nodes:
            self._set(str(node_id), 1.0)

    def executing(self, node_id: str) -> None:
        # Old servers send no progress_state: a node starting means the previous one finished.
        if self._current is not None and self._current != node_id:
            self._set(self._current, 1.0)
        self._current = node_id
        self._set(node_id, 0.0)

    def step(self, node_id: str | None, value: Any, maximum: Any) -> None:
        node_id = node_id or self._current
        if node_id is not None:
            self._set(node_id, _ratio(value, maximum))

    def state(self, nodes: Mapping[str, Any]) -> None:
        for node_id, info in nodes.items():
            if not isinstance(info, Mapping):
                continue
            if info.get("state") == "finished":
                self._set(str(node_id), 1.0)
            else:
                self._set(str(node_id), _ratio(info.get("value"), info.get("max")))

    def _set(self, node_id: str, fraction: float) -> None:
        self._done[node_id] = max(self._done.get(node_id, 0.0), min(1.0, fraction))


def _ratio(value: Any, maximum: Any) -> float:
    try:
        value, maximum = float(value), float(maximum)
    except (TypeError, ValueError):
        return 0.0
    return value / maximum if maximum > 0 else 0.0
