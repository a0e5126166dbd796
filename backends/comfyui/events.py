"""One websocket event of a running prompt applied to the job: the progress bar, completion, failure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..forward_progress import MonotonicReporter
from ..numbers import whole
from .errors import execution_error, interrupted_error
from .event_stream import ComfyEvent
from .progress import RUN_START, NodeProgress
from .workflow import RequiredModel


def apply_event(
    event: ComfyEvent,
    prompt_id: str,
    tracker: NodeProgress,
    progress: MonotonicReporter,
    base_url: str,
    models: Sequence[RequiredModel] = (),
) -> bool:
    """Apply one event; True when the prompt has finished successfully."""
    # This socket's client_id is unique to the job, but a prompt_id check also guards
    # against previews and errors of other prompts on servers that broadcast them.
    if event.prompt_id is not None and event.prompt_id != prompt_id:
        return False
    data = event.data
    if event.type == "preview":
        if event.image and event.image_format in ("png", "jpeg"):
            progress.update(tracker.overall(), None, event.image, event.image_format)
    elif event.type == "execution_start":
        progress.update(RUN_START, "started on ComfyUI")
    elif event.type == "execution_cached":
        tracker.cached(data.get("nodes") or [])
    elif event.type == "progress_state" and isinstance(data.get("nodes"), dict):
        tracker.state(data["nodes"])
        progress.update(tracker.overall(), _running_step(data["nodes"], tracker))
        return False
    elif event.type == "progress":
        tracker.step(_node_id(data.get("node")), data.get("value"), data.get("max"))
        progress.update(
            tracker.overall(),
            f"{tracker.describe(_node_id(data.get('node')))} step {data.get('value')}/{data.get('max')}",
        )
        return False
    elif event.type == "executing":
        if data.get("node") is None:
            return True  # the most version-stable completion signal, sent after history is written
        tracker.executing(str(data["node"]))
        progress.update(tracker.overall(), tracker.describe(str(data["node"])))
        return False
    elif event.type == "execution_success":
        return True
    elif event.type == "execution_error":
        raise execution_error(data, base_url, models)
    elif event.type == "execution_interrupted":
        raise interrupted_error(data, base_url)
    else:
        return False
    progress.update(tracker.overall())
    return False


def _running_step(nodes: dict[str, Any], tracker: NodeProgress) -> str | None:
    """'running KSampler (node 3) step 4/20' for a node in progress_state that counts steps, else None."""
    for node_id, info in nodes.items():
        if isinstance(info, dict) and info.get("state") == "running":
            value, maximum = whole(info.get("value")), whole(info.get("max"))
            if maximum is not None and maximum > 1 and value is not None:
                return f"{tracker.describe(str(node_id))} step {value}/{maximum}"
    return None


def _node_id(value: Any) -> str | None:
    return None if value is None else str(value)
