"""Loopback stub servers for error shapes the reference ComfyUI server cannot produce.

`stub` is a small aiohttp server in a background thread: each test sets the exact
answer (status, bytes, content type) per route, and a websocket script. `raw_server`
is a bare TCP socket for answers that are not HTTP at all, or that break mid-body
(tests/stub_servers.py). `reference` is a reference ComfyUI server for one test module.

comfyui_doubles.py and comfyui_reference.py (builders shared by the backend tests) live beside this
file.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stub_servers
from aiohttp import WSMsgType, web

from devservers.common.runner import BackgroundServer

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

Answer = tuple[int, bytes | str | dict | list, str] | Callable[[web.Request], Any]


class StubComfy(BackgroundServer):
    """Answers exactly what a test tells it to, and records every request it got.

    ws_script steps: ("text", dict or callable), ("raw_text", str), ("binary", bytes),
    ("sleep", seconds), ("receive", None), ("wait_for", threading.Event), ("close", None).
    """

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 0, allow_remote=False)
        self.answers: dict[tuple[str, str], Answer] = {}
        self.requests: list[tuple[str, str, bytes]] = []
        self.ws_script: list[tuple[str, Any]] = []
        self.ws_received: list[str] = []
        self.ws_queries: list[dict[str, str]] = []

    def on(self, method: str, path: str, answer: Answer) -> None:
        self.answers[(method, path)] = answer

    def requests_to(self, method: str, path: str) -> list[bytes]:
        return [body for m, p, body in self.requests if m == method and p.split("?")[0] == path]

    async def build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/ws", self._websocket)
        app.router.add_route("*", "/{tail:.*}", self._http)
        return app

    async def _http(self, request: web.Request) -> web.StreamResponse:
        answer = self.answers.get((request.method, request.path))
        if answer is None:  # "/history/*" answers every path under /history/
            for (method, path), candidate in self.answers.items():
                if method == request.method and path.endswith("/*") and request.path.startswith(path[:-1]):
                    answer = candidate
        # A multipart body must stay unread for the handler's request.post().
        body = b"" if request.content_type.startswith("multipart/") else await request.read()
        self.requests.append((request.method, request.path_qs, body))
        if answer is None:
            return web.Response(status=404)
        if callable(answer):
            result = answer(request)
            if asyncio.iscoroutine(result):
                result = await result
            if isinstance(result, web.StreamResponse):
                return result
            answer = result
        status, payload, content_type = answer  # type: ignore[misc]
        if isinstance(payload, dict | list):
            payload = json.dumps(payload)
        data = payload.encode() if isinstance(payload, str) else payload
        return web.Response(status=status, body=data, content_type=content_type)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if ("GET", "/ws") in self.answers:  # a test can refuse the websocket
            return await self._http(request)
        self.ws_queries.append(dict(request.query))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for kind, value in self.ws_script:
            if callable(value) and kind != "wait_for":
                value = value()  # evaluated when sent, e.g. to use the prompt_id just submitted
            if kind == "wait_for":  # a threading.Event set by an HTTP handler
                await asyncio.get_running_loop().run_in_executor(None, value.wait, 10)
            elif kind == "text":
                await ws.send_str(json.dumps(value))
            elif kind == "raw_text":
                await ws.send_str(value)
            elif kind == "binary":
                await ws.send_bytes(value)
            elif kind == "sleep":
                await asyncio.sleep(value)
            elif kind == "receive":
                message = await ws.receive(timeout=5)
                if message.type == WSMsgType.TEXT:
                    self.ws_received.append(message.data)
            elif kind == "close":
                await ws.close()
                return ws
        async for _ in ws:  # stay open until the client closes, answering its close frame
            pass
        return ws


@pytest.fixture
def stub() -> Iterator[StubComfy]:
    with StubComfy() as server:
        yield server


@pytest.fixture
def raw_server() -> Iterator[Callable[..., stub_servers.RawServer]]:
    with stub_servers.each_closed(stub_servers.RawServer) as start:
        yield start


@pytest.fixture
def refused_url() -> str:
    return stub_servers.refused_url()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One reference server for the tests that leave no state the others depend on."""
    reference_launch = pytest.importorskip("devservers.comfyui.launch")
    with reference_launch.start_server(tmp_path_factory.mktemp("comfyui"), step_seconds=0.01) as server:
        yield server
