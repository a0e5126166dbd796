"""Servers on loopback for the Wan2GP client and backend tests.

`reference` is the reference Wan2GP MCP server (devservers/wan2gp) in a subprocess, shared by a
module. `stub` is a small aiohttp server speaking just enough MCP for shapes the reference server
never produces (SSE answers, session ids, garbage, odd redirects): each test scripts its tools and
routes (`stub.ok(value)` and `stub.tool_failed(text)` build tools/call results; with
--import-mode=importlib a test module cannot import this file). `raw_server` answers with bytes
that are not HTTP; `refused_url` is a port nobody listens on.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from devservers.wan2gp.launch import ServerHandle, start_server

ToolHandler = Callable[[dict[str, Any]], dict[str, Any]]
RouteHandler = Callable[[web.Request], Any]


def ok(value: Any, *, wrapped: bool = False) -> dict[str, Any]:
    """A successful tools/call result, shaped like FastMCP's."""
    if wrapped:
        items = value if isinstance(value, list) else ([] if value is None else [value])
        content = [{"type": "text", "text": json.dumps(item, indent=2)} for item in items]
        return {"content": content, "structuredContent": {"result": value}, "isError": False}
    return {"content": [{"type": "text", "text": json.dumps(value, indent=2)}], "structuredContent": value,
            "isError": False}  # fmt: skip


def tool_failed(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


class StubMcp:
    """Answers MCP like a stateless FastMCP server unless a test says otherwise; records every request.

    tools: {name: handler(arguments) -> tools/call result}; routes: {(method, path): handler(request)}
    replaces the built-in handling of that exact route. session_id: issue it on initialize and
    require it afterwards (a request without it, or after `forget_session()`, gets 404).
    sse: answer requests as text/event-stream (with a notification first).
    """

    ok = staticmethod(ok)
    tool_failed = staticmethod(tool_failed)

    def __init__(self) -> None:
        self.tools: dict[str, ToolHandler] = {}
        self.routes: dict[tuple[str, str], RouteHandler] = {}
        self.requests: list[dict[str, Any]] = []
        self.session_id: str | None = None
        self.sessions: set[str] = set()
        self.sse = False
        self.initializations = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = ""

    @property
    def mcp_url(self) -> str:
        return self.url + "/mcp/"

    def forget_session(self) -> None:
        self.sessions.clear()

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Bodies of JSON-RPC messages received (optionally of one method)."""
        found = [r["json"] for r in self.requests if isinstance(r.get("json"), dict)]
        return [m for m in found if method is None or m.get("method") == method]

    def start(self) -> StubMcp:
        self._thread.start()
        assert self._ready.wait(10), "stub server did not start"
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._http)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._ready.set()
        self._loop.run_forever()

    async def _http(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        self.requests.append({"method": request.method, "path": request.path, "headers": request.headers.copy(),
                              "body": body, "json": parsed})  # fmt: skip
        handler = self.routes.get((request.method, request.path))
        if handler is not None:
            result = handler(request)
            return await result if asyncio.iscoroutine(result) else result
        if request.method == "POST" and request.path == "/mcp/":
            return self._mcp(request, parsed)
        return web.Response(status=404, text="Not Found")

    def _mcp(self, request: web.Request, message: Any) -> web.StreamResponse:
        if not isinstance(message, dict):
            return web.json_response({"jsonrpc": "2.0", "id": "server-error",
                                      "error": {"code": -32700, "message": "Parse error"}}, status=400)  # fmt: skip
        method = message.get("method")
        headers: dict[str, str] = {}
        if method == "initialize":
            self.initializations += 1
            if self.session_id:
                session = f"{self.session_id}-{self.initializations}"
                self.sessions.add(session)
                headers["mcp-session-id"] = session
            result: Any = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {"listChanged": False}},
                           "serverInfo": {"name": "Stub", "version": "0"}}  # fmt: skip
        elif self.session_id and request.headers.get("mcp-session-id") not in self.sessions:
            gone = {"jsonrpc": "2.0", "id": "server-error", "error": {"code": -32600, "message": "Session not found"}}
            return web.json_response(gone, status=404)
        if "id" not in message:
            return web.Response(status=202, content_type="application/json")
        if method == "tools/call":
            params = message.get("params") or {}
            handler = self.tools.get(params.get("name"))
            arguments = params.get("arguments") or {}
            result = handler(arguments) if handler else tool_failed(f"Unknown tool: {params.get('name')}")
        elif method == "tools/list":
            result = {"tools": [{"name": name, "inputSchema": {}} for name in self.tools]}
        elif method == "ping":
            result = {}
        elif method != "initialize":
            answer = {"jsonrpc": "2.0", "id": message["id"],
                      "error": {"code": -32602, "message": "Invalid request parameters", "data": ""}}  # fmt: skip
            return web.json_response(answer, headers=headers)
        answer = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        if self.sse:
            note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "hi"}}
            text = (
                f"event: message\ndata: {json.dumps(note)}\n\n: a comment\n"
                f"event: message\nid: 7\ndata: {json.dumps(answer)}\n\n"
            )
            return web.Response(body=text.encode(), content_type="text/event-stream", headers=headers)
        return web.json_response(answer, headers=headers)


@pytest.fixture
def stub() -> Iterator[StubMcp]:
    server = StubMcp().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    handle = start_server(tmp_path_factory.mktemp("wan2gp-reference"), step_seconds=0.01)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def idle_reference(reference: ServerHandle) -> Iterator[ServerHandle]:
    """The shared reference server, idle and with no failure queued, before and after the test."""
    reference.wait_idle()
    reference.fail_next("none")
    yield reference
    reference.wait_idle()
    reference.fail_next("none")


class RawServer:
    """Accepts connections, reads the request head, sends `payload`, then closes."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                # Read the whole body too: closing with unread data would reset the connection.
                head, _, body = received.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                while length and len(body) < int(length.group(1)):
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                connection.sendall(self.payload)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes], RawServer]]:
    servers: list[RawServer] = []

    def start(payload: bytes) -> RawServer:
        server = RawServer(payload)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def refused_url() -> str:
    """An address where nothing listens: a port that was just free."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mcp/"
