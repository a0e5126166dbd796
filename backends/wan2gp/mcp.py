"""The MCP session under the Wan2GP client: JSON-RPC over streamable HTTP, and `tools/call`.

Stdlib urllib only (it ships with Blender); no MCP SDK. What the real Wan2GP 12.60 server does
(protocols/wan2gp-recorded.md) and how this client meets it:

* POST `<origin>/mcp/` with `Content-Type: application/json` and `Accept: application/json,
  text/event-stream` (without both the server answers 406). `POST /mcp` answers 307 to `/mcp/`:
  the shared transport re-POSTs within the same origin only, and the new endpoint is remembered.
* Answers are plain JSON; an SSE body (`data:` events) is read too, as other MCP servers send one.
* `initialize` then the `notifications/initialized` notification (202, empty). Wan2GP is stateless
  and sends no `mcp-session-id`; if a server does, it is echoed, and a 404 for it means the session
  expired: the handshake is done again once. `mcp-protocol-version` is sent after the handshake.
* Tool errors are HTTP 200 with `isError: true` and a text; they become typed errors (errors.py).
* Results: `structuredContent`, unwrapped from `{"result": ...}` when the tool's output is a list or
  an optional dict; else the JSON in `content[0].text`.

Reading the answers (JSON or SSE, tool results) is mcp_answers.py; this module is the session.

Every failure leaves as one of the typed errors of backends/base.py, never as a raw urllib error.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..answer import Answer
from ..base import InvalidRequest, ProtocolError
from ..credentials import with_server_credentials
from ..http import ErrorAnswer, read_all, send, snippet
from ..policy import DEFAULT_POLICY, TransportPolicy
from .errors import IS_IT_WAN2GP, WAN2GP, http_error, rpc_error
from .mcp_answers import parse_message, read_sse, tool_value

# The client's logger (client.py, gallery.py and this module were one): its records keep their name.
log = logging.getLogger(__package__ + ".client")

DEFAULT_URL = "http://127.0.0.1:7866/mcp/"
PROTOCOL_VERSION = "2025-06-18"
KNOWN_PROTOCOL_VERSIONS = ("2025-06-18", "2025-03-26", "2024-11-05")
ACCEPT = "application/json, text/event-stream"
CLIENT_INFO = {"name": "Shotcaller", "version": "0.1.0"}


def mcp_endpoint(url: str) -> str:
    """The MCP endpoint for what a user typed: a bare origin gets `/mcp/`; a path is kept as given."""
    url = (url or "").strip()
    parts = urllib.parse.urlsplit(url)
    path = parts.path if parts.path not in ("", "/") else "/mcp/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(frozen=True)
class ServerInfo:
    name: str
    version: str
    protocol_version: str
    capabilities: dict[str, Any] = field(default_factory=dict)


class _SessionExpired(Exception):
    """The server forgot our mcp-session-id (HTTP 404 while we hold one)."""


class MCPSession:
    """One MCP session with a Wan2GP server: handshake, JSON-RPC exchanges, tool calls.

    The base of Wan2GPClient (client.py). Thread-safe: requests are independent HTTP exchanges.
    """

    def __init__(
        self, url: str = DEFAULT_URL, timeout: float = 30.0, *, policy: TransportPolicy = DEFAULT_POLICY
    ) -> None:
        self.endpoint = mcp_endpoint(url)
        parts = urllib.parse.urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidRequest(
                f"the Wan2GP address {url!r} is not an http(s) URL",
                hint="Write it like http://127.0.0.1:7866/mcp/ in Shotcaller's preferences.",
            )
        self.timeout = timeout
        self.policy = with_server_credentials(policy, self.endpoint, f"Wan2GP at {self.origin}")
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._session_id: str | None = None
        self._protocol_version: str | None = None
        self.server_info: ServerInfo | None = None

    @property
    def origin(self) -> str:
        parts = urllib.parse.urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}"

    # --- lifecycle ---------------------------------------------------------------------------

    def initialize(self) -> ServerInfo:
        """The MCP handshake: initialize, then the initialized notification."""
        with self._lock:
            return self._initialize_locked()

    def ensure_initialized(self) -> ServerInfo:
        with self._lock:
            if self.server_info is not None:
                return self.server_info
            return self._initialize_locked()

    def _initialize_locked(self) -> ServerInfo:
        self._session_id = None
        self._protocol_version = None
        self.server_info = None
        params = {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO}
        result, headers = self._exchange("initialize", params, handshake=True)
        if not isinstance(result, dict):
            raise ProtocolError(
                f"Wan2GP at {self.endpoint} answered initialize with {snippet(str(result))}", hint=IS_IT_WAN2GP
            )
        version = str(result.get("protocolVersion") or "")
        if version not in KNOWN_PROTOCOL_VERSIONS:
            log.warning(
                "Wan2GP at %s speaks MCP %r; Shotcaller knows %s",
                self.endpoint,
                version,
                ", ".join(KNOWN_PROTOCOL_VERSIONS),
            )
        session = headers.get("mcp-session-id")
        self._session_id = session or None
        self._protocol_version = version or PROTOCOL_VERSION
        server = result.get("serverInfo") if isinstance(result.get("serverInfo"), dict) else {}
        capabilities = result.get("capabilities") if isinstance(result.get("capabilities"), dict) else {}
        info = ServerInfo(
            str((server or {}).get("name", "")),
            str((server or {}).get("version", "")),
            self._protocol_version,
            dict(capabilities or {}),
        )
        self._notify("notifications/initialized")
        self.server_info = info
        return info

    def ping(self) -> None:
        self._request("ping", None)

    def list_tools(self) -> list[dict[str, Any]]:
        result = self._request("tools/list", None)
        tools = result.get("tools") if isinstance(result, dict) else None
        if not isinstance(tools, list):
            raise ProtocolError(f"Wan2GP at {self.endpoint} answered tools/list without tools", hint=IS_IT_WAN2GP)
        return [t for t in tools if isinstance(t, dict)]

    # --- tools ---------------------------------------------------------------------------------

    def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """The tool's value (structured content, unwrapped). isError raises a typed error."""
        params = {"name": name, "arguments": dict(arguments or {})}
        result = self._request("tools/call", params, timeout=timeout)
        return tool_value(name, result, self.endpoint, self.origin)

    # --- JSON-RPC plumbing ----------------------------------------------------------------------

    def _request(self, method: str, params: Any, *, timeout: float | None = None) -> Any:
        self.ensure_initialized()
        try:
            return self._exchange(method, params, timeout=timeout)[0]
        except _SessionExpired:
            log.info("Wan2GP at %s forgot our MCP session; doing the handshake again", self.endpoint)
            self.initialize()
            try:
                return self._exchange(method, params, timeout=timeout)[0]
            except _SessionExpired:
                raise ProtocolError(
                    f"Wan2GP at {self.endpoint} keeps rejecting its own MCP session", hint="Restart Wan2GP."
                ) from None

    def _notify(self, method: str) -> None:
        body = {"jsonrpc": "2.0", "method": method}
        try:
            status, _headers, response = self._post(body, self.timeout)
        except _SessionExpired:
            raise ProtocolError(
                f"Wan2GP at {self.endpoint} rejected the MCP session it had just opened", hint="Restart Wan2GP."
            ) from None
        with response:
            read_all(response, self.origin, WAN2GP)
        if status not in (200, 202, 204):
            raise ProtocolError(f"Wan2GP at {self.endpoint} answered the notification {method} with HTTP {status}")

    def _exchange(
        self, method: str, params: Any, *, handshake: bool = False, timeout: float | None = None
    ) -> tuple[Any, dict[str, str]]:
        request_id = next(self._ids)
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            body["params"] = params
        status, headers, response = self._post(body, timeout or self.timeout, handshake=handshake)
        with response:
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type == "text/event-stream":
                message = read_sse(response, request_id, method, self.endpoint, self.policy)
            else:
                raw = read_all(response, self.origin, WAN2GP, what=f"its answer to {method}")
                if status == 202 or not raw.strip():
                    raise ProtocolError(
                        f"Wan2GP at {self.endpoint} accepted {method} but sent no answer", hint=IS_IT_WAN2GP
                    )
                message = parse_message(raw, method, self.endpoint)
        if message.get("id") != request_id:
            raise ProtocolError(
                f"Wan2GP at {self.endpoint} answered {method} with the reply to another request"
                f" (id {message.get('id')!r}, expected {request_id})"
            )
        if "error" in message:
            raise rpc_error(message["error"], self.origin, method)
        if "result" not in message:
            raise ProtocolError(f"Wan2GP at {self.endpoint} answered {method} without a result", hint=IS_IT_WAN2GP)
        return message["result"], headers

    def _post(
        self, body: dict[str, Any], timeout: float, *, handshake: bool = False
    ) -> tuple[int, dict[str, str], Answer]:
        """POST to the endpoint (same-origin redirects followed by the transport; the new endpoint is kept)."""
        data = json.dumps(body).encode()
        method = str(body.get("method", ""))
        request = urllib.request.Request(self.endpoint, data=data, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", ACCEPT)
        request.add_header("User-Agent", "Shotcaller")
        if self._session_id and not handshake:
            request.add_header("Mcp-Session-Id", self._session_id)
        if self._protocol_version and not handshake:
            request.add_header("MCP-Protocol-Version", self._protocol_version)
        try:
            response = send(request, timeout, self.endpoint, WAN2GP, policy=self.policy)
        except ErrorAnswer as answer:
            if answer.status == 404 and self._session_id and not handshake:
                raise _SessionExpired() from None
            if answer.status in (401, 403):
                raise self.policy.credentials.refused(answer.status, f"the MCP request {method}") from None
            raise http_error(answer.status, answer.body, self.endpoint, method) from None
        if response.url != self.endpoint:
            log.info("Wan2GP MCP endpoint moved: %s -> %s", self.endpoint, response.url)
            self.endpoint = response.url
        headers = {k.lower(): v for k, v in response.headers.items()}
        return response.status, headers, response
