"""Servers on loopback for the Wan2GP client and backend tests.

`reference` is the reference Wan2GP MCP server (devservers/wan2gp) in a subprocess, shared by a
module. `stub` is a small aiohttp server speaking just enough MCP for shapes the reference server
never produces (SSE answers, session ids, garbage, odd redirects): each test scripts its tools and
routes (`stub.ok(value)` and `stub.tool_failed(text)` build tools/call results; with
--import-mode=importlib a test module cannot import this file). `raw_server` answers with bytes
that are not HTTP; `refused_url` is a port nobody listens on (both from tests/stub_servers.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stub_servers
from aiohttp import web

from devservers.common.runner import BackgroundServer
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


class StubMcp(BackgroundServer):
    """Answers MCP like a stateless FastMCP server unless a test says otherwise; records every request.

    tools: {name: handler(arguments) -> tools/call result}; routes: {(method, path): handler(request)}
    replaces the built-in handling of that exact route. session_id: issue it on initialize and
    require it afterwards (a request without it, or after `forget_session()`, gets 404).
    sse: answer requests as text/event-stream (with a notification first).
    """

    ok = staticmethod(ok)
    tool_failed = staticmethod(tool_failed)
    runner_options = {"shutdown_timeout": 1.0}

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 0, allow_remote=False)
        self.tools: dict[str, ToolHandler] = {}
        self.routes: dict[tuple[str, str], RouteHandler] = {}
        self.requests: list[dict[str, Any]] = []
        self.session_id: str | None = None
        self.sessions: set[str] = set()
        self.sse = False
        self.initializations = 0

    @property
    def mcp_url(self) -> str:
        return self.url + "/mcp/"

    def forget_session(self) -> None:
        self.sessions.clear()

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Bodies of JSON-RPC messages received (optionally of one method)."""
        found = [r["json"] for r in self.requests if isinstance(r.get("json"), dict)]
        return [m for m in found if method is None or m.get("method") == method]

    async def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._http)
        return app

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
    with StubMcp() as server:
        yield server


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


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes], stub_servers.RawServer]]:
    with stub_servers.each_closed(stub_servers.RawServer) as start:
        yield start


@pytest.fixture
def refused_url() -> str:
    return stub_servers.refused_url("/mcp/")
