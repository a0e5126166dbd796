"""Turning what a Wan2GP MCP server says went wrong into the typed errors of backends/base.py.

The shapes are the ones captured from the real Wan2GP 12.60 server (protocols/wan2gp-recorded.md and
wan2gp-captures/): transport errors with JSON-RPC envelopes (`"id": "server-error"`), plain-text
400s, tool errors as HTTP 200 with `isError` and a text "Error executing tool <tool>: <message>",
and finished jobs whose `result.errors` carry a `stage` (validation, generation, cancelled, runtime).
Every error says what happened and what a filmmaker can do about it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..base import (
    BackendBusy,
    BackendError,
    BackendUnreachable,
    Cancelled,
    InvalidRequest,
    JobLost,
    MissingResource,
    OutOfMemory,
    ProtocolError,
)
from ..http import Service, snippet
from .weights import hub_failure

START_COMMAND = "python wgp.py --mcp --mcp-transport streamable-http --mcp-host 127.0.0.1 --mcp-port 7866"
START_HINT = f"Start Wan2GP with {START_COMMAND}, or fix the Wan2GP address in Shotcaller's preferences."
IS_IT_WAN2GP = f"Is this address really Wan2GP's MCP server (it ends in /mcp/)? {START_HINT}"
# For a server that is not there: {listen} and {port} filled from the address used (http.fill_address).
START_AT_ADDRESS = START_HINT.replace("--mcp-host 127.0.0.1 --mcp-port 7866", "--mcp-host {listen} --mcp-port {port}")
WAN2GP = Service(
    "Wan2GP",
    START_AT_ADDRESS,
    example_url="http://127.0.0.1:7866/mcp/",
    settings_name="Wan2GP",
    url_name="server",
    ssl_hint="Wan2GP serves plain http://; check the address.",
    not_http_hint=IS_IT_WAN2GP,
    refused_question="Is Wan2GP running with its MCP server?",
)

# Torch's "CUDA out of memory. Tried to allocate ...", Wan2GP's own "...it is likely that you have
# unsufficient VRAM and you should therefore reduce the video resolution or its number of frames."
_OOM_MARKERS = (
    "out of memory",
    "outofmemory",
    "unsufficient vram",
    "insufficient vram",
    "not enough vram",
    "tried to allocate",
    "allocation on device",
)
_OOM_HINT = (
    "Lower the resolution or the length of the shot, use draft quality, or start Wan2GP with a"
    " lower-memory profile (--profile 4 or 5); close other programs using the GPU."
)


def is_out_of_memory(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in _OOM_MARKERS)


def envelope_message(body: bytes) -> str | None:
    """The message of a transport-level JSON-RPC error envelope, if the body is one."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), Mapping):
        message = payload["error"].get("message")
        return str(message) if message is not None else None
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), str):  # gallery routes
        return str(payload["error"])
    return None


def http_error(status: int, body: bytes, url: str, what: str) -> BackendError:
    """A non-2xx answer from the MCP endpoint (not from the gallery routes)."""
    message = envelope_message(body)
    detail = message or snippet(body) or "(empty answer)"
    if status == 406:
        return ProtocolError(
            f"Wan2GP at {url} refused {what} (HTTP 406): {detail}",
            hint="Something between Shotcaller and Wan2GP (a proxy?) changes the request's Accept header;"
            " connect to Wan2GP directly.",
        )
    if status == 404:
        return BackendUnreachable(f"there is no MCP endpoint at {url} (HTTP 404 for {what})", hint=IS_IT_WAN2GP)
    if status in (429, 503):
        return BackendBusy(f"Wan2GP at {url} is busy (HTTP {status})", hint="It will be tried again shortly.")
    if status == 400 and message and "protocol version" in message.lower():
        return ProtocolError(
            f"Wan2GP at {url} does not speak Shotcaller's MCP protocol version: {message}",
            hint="Update Wan2GP (or Shotcaller) so that both support the same MCP version.",
        )
    if status >= 500:
        return ProtocolError(
            f"Wan2GP at {url} failed with an internal error (HTTP {status}): {detail}",
            hint="See the Wan2GP console for the reason.",
        )
    return ProtocolError(f"Wan2GP at {url} rejected {what} (HTTP {status}): {detail}", hint=IS_IT_WAN2GP)


def rpc_error(error: Any, url: str, method: str) -> BackendError:
    """A JSON-RPC `error` member in an HTTP 200 answer."""
    if not isinstance(error, Mapping):
        return ProtocolError(f"Wan2GP at {url} answered {method} with a malformed error: {snippet(str(error))}")
    code = error.get("code")
    message = str(error.get("message") or "")
    if is_out_of_memory(message):
        return OutOfMemory(f"Wan2GP at {url} ran out of memory: {message}", hint=_OOM_HINT)
    # The MCP SDK answers an unknown method with -32602 "Invalid request parameters" (not -32601).
    return ProtocolError(
        f"Wan2GP at {url} refused the MCP request {method}: {message or 'no message'} (JSON-RPC {code})",
        hint="This server does not understand Shotcaller's request; update Wan2GP, or check that the"
        " address is Wan2GP's MCP endpoint.",
    )


def tool_error(tool: str, text: str, url: str) -> BackendError:
    """A tool result with isError: true. Its text is a message, not JSON."""
    detail = text.removeprefix(f"Error executing tool {tool}: ").strip()
    lowered = detail.lower()
    if text.startswith("Unknown tool:"):
        return MissingResource(
            f"the MCP server at {url} has no tool '{tool}'",
            hint="Shotcaller needs Wan2GP 12.60 or newer started with --mcp; update Wan2GP or check the address.",
        )
    if "already has a generation in progress" in lowered:
        return BackendBusy(
            f"Wan2GP at {url} is already generating something else (it runs one generation at a time)",
            hint="Shotcaller sends the shot to another backend, or tries this one again when it is free.",
        )
    if is_out_of_memory(detail):
        return OutOfMemory(f"Wan2GP at {url} ran out of memory in {tool}: {detail}", hint=_OOM_HINT)
    if "unknown model_type" in lowered:
        return MissingResource(
            f"Wan2GP at {url} does not know the model in {tool}: {detail}",
            hint="Update Wan2GP to a version that has this model, or use another backend.",
        )
    if "unknown wangp job_id" in lowered or "unknown wangp gallery_id" in lowered:
        return JobLost(
            f"Wan2GP at {url} has forgotten what Shotcaller asked about ({detail.strip(chr(39))})",
            hint="Wan2GP keeps jobs and gallery items in memory only: it was probably restarted. Generate again.",
        )
    if "supported image, video, or audio extension" in lowered:
        return InvalidRequest(
            f"Wan2GP at {url} does not accept this file type: {detail}",
            hint="Use a PNG, JPEG or WebP file as the shot's init image.",
        )
    if "validation error" in lowered:
        first = " ".join(detail.splitlines()[:3])
        return ProtocolError(
            f"Wan2GP at {url} rejected Shotcaller's arguments for {tool}: {snippet(first)}",
            hint="This Wan2GP version does not match what Shotcaller expects; update Wan2GP or Shotcaller.",
        )
    if "timed out" in lowered:
        return BackendBusy(f"Wan2GP at {url} timed out in {tool}: {detail}", hint="It will be tried again.")
    return ProtocolError(
        f"Wan2GP at {url} failed in {tool}: {snippet(detail, 400)}", hint="See the Wan2GP console for details."
    )


CANNOT_DOWNLOAD_FIX = "connect it to the internet once, or copy the weights into its ckpts folder"


def job_error(
    result: Mapping[str, Any],
    url: str,
    job_id: str,
    *,
    stream: Iterable[str] = (),
    offers: tuple[str, ...] = (),
) -> BackendError:
    """A finished job whose result is not a success, classified by its errors' stage and console lines.

    `stream` is the job's console output; `offers` the server's offers a weights download it cannot
    make would stop too (see MissingResource). The job id goes to the log, not into the message:
    the message may be shown to other shots as the server's state."""
    errors = [e for e in result.get("errors") or [] if isinstance(e, Mapping)]
    messages = [str(e.get("message") or "").strip() for e in errors]
    where = f"Wan2GP at {url}"
    if result.get("cancelled") or any(e.get("cancelled") or e.get("stage") == "cancelled" for e in errors):
        return Cancelled(
            f"the job was cancelled on {where}",
            hint="Someone cancelled it in Wan2GP (its web page or another client); generate again.",
        )
    for message in messages:
        if is_out_of_memory(message):
            return OutOfMemory(f"{where} ran out of GPU memory: {snippet(message, 300)}", hint=_OOM_HINT)
    for error, message in zip(errors, messages, strict=True):
        if error.get("stage") == "validation":
            return InvalidRequest(
                f"{where} rejected the shot's settings: {snippet(message, 300)}",
                hint="Check the shot's prompt, resolution, length and init image.",
            )
    download = hub_failure(messages, stream)
    if download is not None:
        offline = " (that machine cannot reach the internet)" if download.offline else ""
        return MissingResource(
            f"{where} cannot download model weights: it could not fetch {download.describe()}{offline}",
            hint=f"This server cannot download weights: {CANNOT_DOWNLOAD_FIX}.",
            offers=offers,
            server_state=f"cannot download model weights since {time.strftime('%H:%M')}"
            f" ({download.file or 'from the Hugging Face hub'}){offline}: {CANNOT_DOWNLOAD_FIX}",
        )
    if messages:
        stage = errors[0].get("stage") or "?"
        return ProtocolError(
            f"{where} failed ({stage}): {snippet(messages[0], 300)}", hint="See the Wan2GP console for the full error."
        )
    return ProtocolError(
        f"{where} reports the job as failed without saying why", hint="See the Wan2GP console for the full error."
    )
