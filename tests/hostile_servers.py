"""Hostile servers on loopback: one table of attacks, usable against all three clients.

A `HostileServer` answers each route (method, path prefix) either plainly or with an `Attack`;
it records every request (with its headers), so a test can show that a credential never
reached it. A second one stands for "another origin" (another port is another origin).
`mcp_routes` makes it speak just enough MCP (handshake, tools/call) for the Wan2GP client.

ATTACKS lists one row per attack; each client's test maps the row's `slot` (an answer, a
download, an event-stream line) to one of its calls. A row's `expect` names the typed error and
the words its message must carry. With `upstream` set, what no route matches is forwarded to a
real (reference) server, so one route can be attacked in an otherwise genuine exchange.

Stdlib only: Blender's tests start it in the bpy venv's python too.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HTML_PAGE = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Attack:
    """What a hostile route does. `action`: redirect | drip | flood | endless_line | body."""

    name: str
    klass: str  # credentials | off-machine | waits | memory | not-media
    slot: str  # answer | download | line: which kind of call of a client it hits
    action: str
    location: str = ""  # redirect target; "{other}" is the other origin's URL
    body: bytes = b""
    content_type: str = "application/json"
    declared: int | None = None  # Content-Length to announce (flood); None: none, the body ends at close
    expect: tuple[str, str] = ("ProtocolError", "")  # the error class's name, words its message carries
    policy: dict[str, Any] = field(default_factory=dict)  # TransportPolicy fields this row needs


# The policy the attack tests run under: small limits and short deadlines, so a flood or a drip is
# refused in well under a second.
TEST_POLICY = {"answer_bytes": 256 * 1024, "download_bytes": 2 * MIB, "download_seconds": 1.5}
CROSS = {"cross_origin_redirects": True}

ATTACKS: tuple[Attack, ...] = (
    Attack("redirect-answer-to-other-origin", "credentials", "answer", "redirect", "{other}/steal",
           expect=("RedirectRefused", "another server")),
    Attack("redirect-download-to-other-origin", "credentials", "download", "redirect", "{other}/steal",
           expect=("RedirectRefused", "another server")),
    Attack("redirect-download-cross-allowed", "credentials", "download", "redirect", "{other}/steal",
           expect=("BackendError", ""), policy=CROSS),  # followed, but without credentials (checked by the test)
    Attack("redirect-to-ftp", "off-machine", "download", "redirect", "ftp://127.0.0.1/take.mp4",
           expect=("RedirectRefused", "not an http")),
    Attack("redirect-to-private-network", "off-machine", "download", "redirect", "http://10.20.30.40:8188/x",
           expect=("OffMachine", "not on this machine"), policy=CROSS),
    Attack("redirect-to-evil-localhost", "off-machine", "download", "redirect", "http://evil.localhost:8188/x",
           expect=("OffMachine", "not on this machine"), policy=CROSS),
    Attack("redirect-to-mapped-private", "off-machine", "answer", "redirect", "http://[::ffff:10.0.0.1]:80/x",
           expect=("OffMachine", "not on this machine"), policy=CROSS),
    Attack("drip-answer", "waits", "answer", "drip", body=b'{"a": 1}' + b" " * 200,
           expect=("TooSlow", "the whole answer counts")),
    Attack("drip-download", "waits", "download", "drip", body=b"\x00" * 4096, content_type="video/mp4",
           expect=("TooSlow", "the whole answer counts")),
    Attack("flood-answer-unannounced", "memory", "answer", "flood", body=b'{"a": "',
           expect=("TooLarge", "larger than the limit")),
    Attack("flood-answer-announced", "memory", "answer", "flood", body=b'{"a": "', declared=400 * MIB,
           expect=("TooLarge", "announced 400 MiB")),
    Attack("flood-download", "memory", "download", "flood", body=b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4",
           expect=("TooLarge", "Max download")),
    Attack("endless-line", "memory", "line", "endless_line", body=b"data: ", content_type="text/event-stream",
           expect=("TooLarge", "larger than the limit")),
    Attack("html-as-media", "not-media", "download", "body", body=HTML_PAGE, content_type="video/mp4",
           expect=("ProtocolError", "<!DOCTYPE html>")),
    Attack("empty-as-media", "not-media", "download", "body", body=b"", content_type="video/mp4",
           expect=("ProtocolError", "an empty file")),
)  # fmt: skip


def attacks(*slots: str) -> list[Any]:
    """The rows for these slots, as pytest params named after the attack."""
    import pytest

    return [pytest.param(a, id=a.name) for a in ATTACKS if a.slot in slots]


Plain = tuple[int, str, bytes]  # status, content type, body
Route = Attack | Plain | Callable[[bytes], "Attack | Plain"]


class HostileServer:
    """A loopback HTTP/1.1 server; routes are matched by method and longest path prefix."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.other_url = ""  # what "{other}" in a redirect becomes
        self.upstream = ""  # a server to forward unmatched requests to
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.route(self.command, self.path)
                answer = route(body) if callable(route) else route
                with contextlib.suppress(OSError):  # the client gave up: that is the point of most attacks
                    server.perform(self, answer)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def on(self, method: str, path: str, route: Route) -> None:
        self.routes[(method, path)] = route

    def route(self, method: str, path: str) -> Route:
        matches = [(len(p), r) for (m, p), r in self.routes.items() if m == method and path.startswith(p)]
        if matches:
            return max(matches, key=lambda item: item[0])[1]
        if self.upstream:
            return lambda body: self.forward(method, path, body)
        return (404, "text/plain", b"no such route")

    def forward(self, method: str, path: str, body: bytes) -> Plain:
        """The upstream server's answer to the same request (JSON bodies only: what the clients send)."""
        parts = urllib.parse.urlsplit(self.upstream)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        try:
            headers = {"Content-Type": "application/json"} if body else {}
            connection.request(method, path, body=body or None, headers=headers)
            answer = connection.getresponse()
            return (answer.status, answer.getheader("Content-Type") or "application/octet-stream", answer.read())
        finally:
            connection.close()

    def headers_seen(self) -> list[dict[str, str]]:
        return [headers for _, _, headers in self.requests]

    def perform(self, handler: BaseHTTPRequestHandler, answer: Attack | Plain) -> None:
        write = handler.wfile
        if not isinstance(answer, Attack):
            status, content_type, body = answer
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            write.write(body)
            return
        if answer.action == "redirect":
            handler.send_response(302)
            handler.send_header("Location", answer.location.replace("{other}", self.other_url))
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", answer.content_type)
        if answer.action == "body":
            handler.send_header("Content-Length", str(len(answer.body)))
            handler.end_headers()
            write.write(answer.body)
            return
        if answer.action == "drip":  # every byte in time, the whole never
            handler.send_header("Content-Length", str(len(answer.body)))
            handler.end_headers()
            for byte in answer.body:
                if self._stop.wait(0.1):
                    return
                write.write(bytes([byte]))
                write.flush()
            return
        if answer.declared is not None:
            handler.send_header("Content-Length", str(answer.declared))
        handler.send_header("Connection", "close")
        handler.end_headers()
        write.write(answer.body)
        textual = answer.content_type.startswith(("application/json", "text/"))
        filler = (b"a" if textual else b"\0") * 65536
        sent = 0
        while not self._stop.is_set() and sent < 64 * MIB:  # far past any test limit; never ends a line
            write.write(filler)
            sent += len(filler)

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


# --- just enough MCP for the Wan2GP client -------------------------------------------------------


def mcp_routes(server: HostileServer, tools: dict[str, Any], *, attack_tools: dict[str, Attack] | None = None) -> None:
    """POST /mcp/: the handshake, and tools/call answering `tools[name]` as structured content,
    or performing `attack_tools[name]` instead."""

    def answer(body: bytes) -> Attack | Plain:
        message = json.loads(body or b"{}")
        method = message.get("method")
        if "id" not in message:
            return (202, "application/json", b"")
        if method == "initialize":
            result: Any = {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "wangp"}}
        elif method == "tools/call":
            name = message["params"]["name"]
            if attack_tools and name in attack_tools:
                return attack_tools[name]
            result = {"content": [], "structuredContent": tools.get(name), "isError": False}
        else:
            result = {}
        reply = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        return (200, "application/json", json.dumps(reply).encode())

    server.on("POST", "/mcp/", answer)
