"""Turning ComfyUI's per-node progress into one bar that moves evenly and only forward.

Each node of the prompt counts for a number of units: a sampler for its steps (a KSampler with
20 steps is 20 units, each KSamplerAdvanced of Wan 2.2 14B's high/low pair the steps of its
own range), every other node for one. The weights are known before the prompt runs, from the
prompt itself, and corrected when a node's `progress` reports a different maximum. A node's
share is value/max from `progress_state` and `progress` (the way ComfyUI-Blender weighs
progress_state), so the bar moves step by step through the samplers, while a fast loader
neither leaves it stuck nor makes it jump back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..numbers import finite, whole

# The bar's parts: preflight and queueing, then the graph running, then downloading.
RUN_START = 0.05
RUN_END = 0.95


def expected_weights(prompt: Mapping[str, Any]) -> dict[str, float]:
    """Units of work per node: sampler steps for samplers, 1 for everything else."""
    weights: dict[str, float] = {}
    for node_id, node in prompt.items():
        weights[str(node_id)] = float(_sampler_steps(prompt, node) or 1)
    return weights


def _sampler_steps(prompt: Mapping[str, Any], node: Any) -> int:
    if not isinstance(node, Mapping):
        return 0
    class_type = str(node.get("class_type", ""))
    raw_inputs = node.get("inputs")
    inputs: Mapping[str, Any] = raw_inputs if isinstance(raw_inputs, Mapping) else {}
    steps = _int(inputs.get("steps"))
    if steps and "Sampler" in class_type and "ModelSampling" not in class_type:
        start = _int(inputs.get("start_at_step")) or 0
        end = _int(inputs.get("end_at_step"))
        if end is not None:
            return max(1, min(steps, end) - start)
        return steps
    sigmas = inputs.get("sigmas")
    if isinstance(sigmas, list) and len(sigmas) == 2 and str(sigmas[0]) in prompt:
        # SamplerCustom(Advanced): as many steps as its scheduler node makes sigmas for.
        source = prompt[str(sigmas[0])]
        source_inputs = source.get("inputs") if isinstance(source, Mapping) else None
        if isinstance(source_inputs, Mapping):
            return _int(source_inputs.get("steps")) or 0
    return 0


def _int(value: Any) -> int | None:
    return whole(value)  # 1e999 from a server is no number of steps, and int() of it would raise


class NodeProgress:
    """How far the graph is, from progress_state, progress, executing and execution_cached events."""

    def __init__(self, node_classes: Mapping[str, str], weights: Mapping[str, float] | None = None) -> None:
        self._classes = dict(node_classes)
        self._weights = {node_id: 1.0 for node_id in self._classes}
        self._weights.update({str(k): max(1.0, float(v)) for k, v in (weights or {}).items()})
        self._done: dict[str, float] = {}
        self._current: str | None = None

    @property
    def fraction(self) -> float:
        # Subgraph expansion can report nodes the prompt did not list: they count one unit each.
        total = sum(self._weights.values())
        done = sum(self._weights[node_id] * share for node_id, share in self._done.items())
        return done / total if total > 0 else 0.0

    def overall(self) -> float:
        return RUN_START + (RUN_END - RUN_START) * self.fraction

    def weight(self, node_id: str) -> float:
        return self._weights.get(node_id, 1.0)

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
        if node_id is None:
            return
        steps = _int(maximum)
        if steps and steps > 1 and self._weights.get(node_id) != steps:
            # The node's real amount of work (a sampler we did not recognise, or other steps than
            # the prompt suggested): from now on it counts that many units.
            self._weights[node_id] = float(steps)
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
        self._weights.setdefault(node_id, 1.0)
        self._done[node_id] = max(self._done.get(node_id, 0.0), min(1.0, fraction))


def _ratio(value: Any, maximum: Any) -> float:
    done, total = finite(value), finite(maximum)
    if done is None or total is None or total <= 0:
        return 0.0
    return min(1.0, max(0.0, done / total))
