"""What a Wan2GP MCP server's answers mean: a JSON-RPC message read from a plain JSON body or from an
SSE stream (`data:` events), and a `tools/call` result unwrapped into the tool's value.

The session that sends the requests is mcp.py; what the real server sends is told there.
"""

from __future__ import annotations

import json
from typing import Any

from ..answer import Answer, TooLarge
from ..base import ProtocolError
from ..http import snippet
from ..policy import TransportPolicy
from .errors import IS_IT_WAN2GP, tool_error

# Tools whose output the server wraps as {"result": ...}: those returning lists, and dicts that may be None.
LIST_TOOLS = frozenset({
    "wangp_list_models", "wangp_list_model_defs", "wangp_list_model_availability", "wangp_list_gallery",
    "wangp_get_gallery_selection", "wangp_list_deepy_templates",
})  # fmt: skip
OPTIONAL_TOOLS = frozenset({"wangp_get_model", "wangp_get_model_metadata", "wangp_get_model_schema"})
WRAPPED_TOOLS = LIST_TOOLS | OPTIONAL_TOOLS


def tool_value(name: str, result: Any, endpoint: str, origin: str) -> Any:
    """The value of tool `name` from its tools/call result (structured content, unwrapped); isError
    raises the tool's typed error."""
    if not isinstance(result, dict):
        raise ProtocolError(f"Wan2GP at {endpoint} answered {name} with {snippet(str(result))}", hint=IS_IT_WAN2GP)
    content = result.get("content") if isinstance(result.get("content"), list) else []
    texts = [str(c.get("text", "")) for c in content or [] if isinstance(c, dict) and c.get("type") == "text"]
    if result.get("isError"):
        raise tool_error(name, "\n".join(texts) or "(no message)", origin)
    if "structuredContent" in result:
        value = result["structuredContent"]
        if name in WRAPPED_TOOLS and isinstance(value, dict) and set(value) == {"result"}:
            return value["result"]
        return value
    values = []  # an older server without structured content: the JSON is in the text items
    for text in texts:
        try:
            values.append(json.loads(text))
        except ValueError:
            raise ProtocolError(
                f"Wan2GP at {endpoint} answered {name} with text that is not JSON: {snippet(text)}",
                hint=IS_IT_WAN2GP,
            ) from None
    if name in LIST_TOOLS:
        return values
    return values[0] if values else None


def parse_message(raw: bytes, method: str, endpoint: str) -> dict[str, Any]:
    """A plain JSON answer as a JSON-RPC 2.0 message; anything else is a ProtocolError."""
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(
            f"Wan2GP at {endpoint} answered {method} with something that is not JSON-RPC: {snippet(raw) or '(empty)'}",
            hint=IS_IT_WAN2GP,
        ) from None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise ProtocolError(f"Wan2GP at {endpoint} answered {method} with {snippet(raw)}", hint=IS_IT_WAN2GP)
    return message


def read_sse(response: Answer, request_id: int, method: str, endpoint: str, policy: TransportPolicy) -> dict[str, Any]:
    """Events until the JSON-RPC response for `request_id` (server requests and notifications skipped).

    The exchange's deadline bounds the whole stream; the answer limit bounds each line and the
    data of one event."""
    data: list[str] = []
    size = 0
    while True:
        line = response.readline(what=f"a line of its answer to {method}")
        if not line:
            raise ProtocolError(
                f"Wan2GP at {endpoint} closed the event stream before answering {method}",
                hint="The connection dropped; try again.",
            )
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith("data:"):
            data.append(text[5:].removeprefix(" "))
            size += len(line)
            if size > policy.answer_bytes:
                raise TooLarge(
                    f"Wan2GP at {endpoint} sent an event larger than the limit of"
                    f" {policy.answer_limit_text()} while answering {method}",
                    hint="Shotcaller stopped reading it; if it is genuine, raise the limit.",
                )
            continue
        if text or not data:
            continue  # event:, id:, retry:, comments; or a blank line without data
        payload, data, size = "\n".join(data), [], 0
        try:
            message = json.loads(payload)
        except ValueError:
            raise ProtocolError(
                f"Wan2GP at {endpoint} sent an event that is not JSON: {snippet(payload)}", hint=IS_IT_WAN2GP
            ) from None
        if (
            isinstance(message, dict)
            and message.get("id") == request_id
            and ("result" in message or "error" in message)
        ):
            return message
