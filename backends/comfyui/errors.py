"""Turning what a ComfyUI server says went wrong into the typed errors of backends/base.py.

Every error carries a sentence about what happened and a hint a filmmaker can act
on. The shapes handled here are the ones recorded from real servers (see
protocols/comfyui-recorded.md), old string-form errors included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from ..base import (
    BackendError,
    Cancelled,
    InvalidRequest,
    MissingResource,
    OutOfMemory,
    ProtocolError,
)
from ..http import Service, snippet
from .workflow import RequiredModel

# {listen} and {port} are filled from the address actually used (backends/http.py fill_address).
START_HINT = (
    "Start it with `python main.py --listen {listen} --port {port}` in the ComfyUI folder,"
    " or fix the server address in Shotcaller's preferences."
)
COMFYUI = Service("ComfyUI", START_HINT, example_url="http://127.0.0.1:8188")
_OOM_MARKERS = ("outofmemory", "out of memory", "allocation on device", "cuda error: out of memory")
_USER_ERROR_TYPES = ("ValueError", "TypeError", "re.error", "AssertionError", "KeyError", "IndexError")
_MODEL_EXTENSIONS = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".onnx")
_MISSING_FILE_TYPES = ("FileNotFoundError", "ModuleNotFoundError", "ImportError")
# What a loader says about a file that is there but unreadable (safetensors, torch.load, ComfyUI's own check).
_DAMAGED_MARKERS = (
    "header too small", "headertoolarge", "header too large", "metadataincompletebuffer", "deserializ",
    "corrupt", "incomplete", "unexpected eof", "invalid load key", "pytorchstreamreader", "truncated",
)  # fmt: skip
_FILE_KINDS = {
    "checkpoints": "checkpoint", "diffusion_models": "diffusion model", "unet": "diffusion model",
    "text_encoders": "text encoder", "clip": "text encoder", "vae": "VAE", "loras": "LoRA",
    "clip_vision": "CLIP vision model", "controlnet": "ControlNet", "upscale_models": "upscale model",
    "audio_encoders": "audio encoder", "style_models": "style model", "model_patches": "model patch",
}  # fmt: skip
_UNKNOWN_NODE = re.compile(r"node (?:type )?'?([\w.\- ]+?)'? (?:does not exist|not found)", re.IGNORECASE)


def is_comfy_rejection(body: bytes) -> bool:
    """Whether an error answer is ComfyUI's own refusal of a workflow ({"error": ..., "node_errors": ...})."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(payload, dict) and "error" in payload and "node_errors" in payload


def rejection_error(status: int, body: bytes, url: str) -> BackendError:
    """POST /prompt answered 4xx: the server refused the workflow before running it."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ProtocolError(
            f"ComfyUI at {url} refused the workflow (HTTP {status}) with an unreadable answer:"
            f" {snippet(body) or '(empty)'}",
            hint="Check the ComfyUI console for the reason.",
        )
    if not isinstance(payload, dict):
        return ProtocolError(f"ComfyUI at {url} refused the workflow (HTTP {status}): {snippet(body)}")
    error = payload.get("error")
    node_errors = payload.get("node_errors")
    if status == 409:
        return ProtocolError(f"ComfyUI at {url} already has a job with this id: {snippet(body)}")
    if isinstance(error, str):  # old servers: {"error": "no prompt", "node_errors": []}
        return InvalidRequest(
            f"ComfyUI at {url} refused the workflow: {error}",
            hint="The template is probably broken; check its workflow file.",
        )
    if not isinstance(error, dict):
        return ProtocolError(f"ComfyUI at {url} refused the workflow (HTTP {status}): {snippet(body)}")
    error_type = str(error.get("type", ""))
    message = str(error.get("message", "")) or error_type
    if error_type == "missing_node_type" or _UNKNOWN_NODE.search(message):
        extra = error.get("extra_info") if isinstance(error.get("extra_info"), dict) else {}
        class_type = (extra or {}).get("class_type") or _unknown_node_name(message)
        node_id = (extra or {}).get("node_id") or str(error.get("details", "")).strip()
        return MissingResource(
            f"ComfyUI at {url} has no node type '{class_type}' ({node_id}): {message}",
            hint="Install the custom node pack that provides it (ComfyUI-Manager can find it),"
            " restart ComfyUI, or choose another template.",
        )
    if isinstance(node_errors, dict) and node_errors:
        return _node_errors_error(node_errors, url)
    details = str(error.get("details", ""))
    text = f"{message} ({details})" if details and details != message else message
    return InvalidRequest(
        f"ComfyUI at {url} refused the workflow: {text}",
        hint="The template is probably broken; check its workflow file.",
    )


def _unknown_node_name(message: str) -> str:
    match = _UNKNOWN_NODE.search(message)
    return match.group(1) if match else "?"


def _node_errors_error(node_errors: dict[str, Any], url: str) -> BackendError:
    problems: list[str] = []
    for node_id, entry in node_errors.items():
        entry = entry if isinstance(entry, dict) else {}
        class_type = entry.get("class_type", "?")
        for err in entry.get("errors") or []:
            if not isinstance(err, dict):
                continue
            extra = err.get("extra_info") if isinstance(err.get("extra_info"), dict) else {}
            input_name = (extra or {}).get("input_name", "")
            received = (extra or {}).get("received_value")
            if err.get("type") == "value_not_in_list" and _is_model_input(class_type, input_name, received):
                return MissingResource(
                    f"model file '{received}' is not installed on ComfyUI at {url}"
                    f" (node {node_id} {class_type}, input {input_name})",
                    hint="Download the model into the matching ComfyUI/models folder and restart"
                    " ComfyUI, or choose another template.",
                )
            if err.get("type") == "custom_validation_failed" and class_type == "LoadImage":
                return MissingResource(
                    f"ComfyUI at {url} cannot find the init image for node {node_id}: {err.get('details')}",
                    hint="Generate again so Shotcaller uploads the image anew.",
                )
            where = f"node {node_id} ({class_type})" + (f" input {input_name}" if input_name else "")
            detail = err.get("details") or ""
            problems.append(f"{where}: {err.get('message', err.get('type'))}" + (f" [{detail}]" if detail else ""))
    return InvalidRequest(
        f"ComfyUI at {url} refused the workflow: " + ("; ".join(problems) or "validation failed"),
        hint="The template does not fit this ComfyUI version or the shot's settings; check the values named.",
    )


def _is_model_input(class_type: str, input_name: str, received: Any) -> bool:
    """A combo of files on a loader node: its missing value is a missing model, not a bad template."""
    if not isinstance(received, str):
        return False
    return "Loader" in class_type or received.lower().endswith(_MODEL_EXTENSIONS)


def execution_error(data: dict[str, Any], url: str, models: Sequence[RequiredModel] = ()) -> BackendError:
    """An `execution_error` event (or history message): a node raised while running.

    `models` are the template's model files: a loader that fails on one of them names the file,
    its folder and the server, and the shot goes elsewhere (the file is there but unusable)."""
    node = f"node {data.get('node_id', '?')} ({data.get('node_type', '?')})"
    exception_type = str(data.get("exception_type", ""))
    exception_message = str(data.get("exception_message", "")).strip()
    first_line = exception_message.splitlines()[0] if exception_message else exception_type
    lowered = f"{exception_type} {exception_message}".lower()
    if any(marker in lowered for marker in _OOM_MARKERS):
        return OutOfMemory(
            f"ComfyUI at {url} ran out of memory in {node}: {first_line}",
            hint="Lower the resolution or frame count, use a draft template, or close other programs using the GPU.",
        )
    loaded = [m for m in models if m.node_id == str(data.get("node_id"))]
    if loaded:
        return _unusable_model_file(loaded, data, url, first_line, lowered)
    described = f"{node} failed on ComfyUI at {url}: {exception_type}: {first_line}"
    short_type = exception_type.rsplit(".", 1)[-1]
    if exception_type in _MISSING_FILE_TYPES or short_type in _MISSING_FILE_TYPES:
        return MissingResource(described, hint="A file or Python package that node needs is missing on the server.")
    if exception_type in _USER_ERROR_TYPES or short_type in _USER_ERROR_TYPES:
        return InvalidRequest(described, hint="Check the shot's settings and the template's values for that node.")
    return ProtocolError(described, hint="See the ComfyUI console for the full traceback.")


def _unusable_model_file(
    loaded: list[RequiredModel], data: dict[str, Any], url: str, first_line: str, lowered: str
) -> MissingResource:
    """A loader failed on a file the server lists: the file itself is damaged, incomplete or the wrong one."""
    text = " ".join([str(data.get("exception_message", "")), *map(str, data.get("traceback") or [])])
    named = [m for m in loaded if m.filename in text] or loaded
    files = " or ".join(f"the {_FILE_KINDS.get(m.folder, 'model')} file {m.filename}" for m in named)
    folders = ", ".join(sorted({f"ComfyUI/models/{m.folder}/" for m in named}))
    node = f"{named[0].class_type} node {named[0].node_id}"
    if any(marker in lowered for marker in _DAMAGED_MARKERS):
        return MissingResource(
            f"{files} on ComfyUI at {url} is damaged or incomplete: download it again"
            f" ({node} could not read it: {first_line})",
            hint=f"Replace it in {folders} on that machine with a complete download, then generate again.",
        )
    return MissingResource(
        f"{files} on ComfyUI at {url} could not be loaded by {node}: {first_line}",
        hint=f"Check that the file in {folders} is the right model for this template and completely"
        " downloaded; download it again if in doubt.",
    )


def interrupted_error(data: dict[str, Any], url: str) -> Cancelled:
    node = data.get("node_type") or data.get("node_id") or "?"
    return Cancelled(
        f"the job was interrupted on ComfyUI at {url} (at node {node})",
        hint="Someone pressed Cancel in ComfyUI or another client interrupted it; generate again.",
    )


def error_from_history(entry: dict[str, Any], url: str, models: Sequence[RequiredModel] = ()) -> BackendError:
    """A finished history entry whose status is not success."""
    status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
    for message in reversed((status or {}).get("messages") or []):
        if not isinstance(message, list | tuple) or len(message) != 2 or not isinstance(message[1], dict):
            continue
        if message[0] == "execution_error":
            return execution_error(message[1], url, models)
        if message[0] == "execution_interrupted":
            return interrupted_error(message[1], url)
    return ProtocolError(
        f"ComfyUI at {url} reports the job as '{(status or {}).get('status_str', '?')}' without saying why",
        hint="See the ComfyUI console.",
    )
