"""Loopback stub servers for error shapes the reference ComfyUI server cannot produce.

`stub` is a small aiohttp server in a background thread: each test sets the exact
answer (status, bytes, content type) per route, and a websocket script. `raw_server`
is a bare TCP socket for answers that are not HTTP at all, or that break mid-body.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web

Answer = tuple[int, bytes | str | dict | list, str] | Callable[[web.Request], Any]


class StubComfy:
    """Answers exactly what a test tells it to, and records every request it got.

    ws_script steps: ("text", dict or callable), ("raw_text", str), ("binary", bytes),
    ("sleep", seconds), ("receive", None), ("wait_for", threading.Event), ("close", None).
    """

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Answer] = {}
        self.requests: list[tuple[str, str, bytes]] = []
        self.ws_script: list[tuple[str, Any]] = []
        self.ws_received: list[str] = []
        self.ws_queries: list[dict[str, str]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = ""

    def on(self, method: str, path: str, answer: Answer) -> None:
        self.answers[(method, path)] = answer

    def requests_to(self, method: str, path: str) -> list[bytes]:
        return [body for m, p, body in self.requests if m == method and p.split("?")[0] == path]

    def start(self) -> StubComfy:
        self._thread.start()
        assert self._ready.wait(10), "stub server did not start"
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/ws", self._websocket)
        app.router.add_route("*", "/{tail:.*}", self._http)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()

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
    server = StubComfy().start()
    try:
        yield server
    finally:
        server.stop()


class RawServer:
    """Accepts connections, reads the request head, sends `payload`, then closes (or resets)."""

    def __init__(self, payload: bytes, *, reset: bool = False) -> None:
        self.payload = payload
        self.reset = reset
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
                connection.sendall(self.payload)
                if self.reset:  # RST instead of FIN: the client sees "connection reset"
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(payload: bytes, *, reset: bool = False) -> RawServer:
        server = RawServer(payload, reset=reset)
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
    return f"http://127.0.0.1:{port}"
