"""Fixtures: the real LiteLLM proxy (one per test process) and a stub for shapes it cannot produce."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stub_servers

from devservers.litellm.testing import ProxyStack, StackUnavailable, shared_stack
from shotcaller.backends.litellm.client import LiteLLMClient


@pytest.fixture(scope="session")
def stack() -> ProxyStack:
    try:
        return shared_stack()
    except StackUnavailable as exc:
        pytest.skip(f"no LiteLLM proxy: {exc}")


@pytest.fixture
def client(stack: ProxyStack) -> LiteLLMClient:
    return LiteLLMClient(stack.url, stack.master_key, timeout=30)


Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes | list[bytes]]]


class StubServer:
    """A loopback HTTP server whose answer a test sets: handler(method, path, headers, body) ->
    (status, headers, body or a list of chunks written one by one, then the connection closes)."""

    def __init__(self, handler: Handler) -> None:
        stub = self
        self.handler = handler
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                stub.requests.append((self.command, self.path, headers, body))
                status, out_headers, payload = stub.handler(self.command, self.path, headers, body)
                self.send_response(status)
                for key, value in out_headers.items():
                    self.send_header(key, value)
                if isinstance(payload, list):
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for chunk in payload:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def json_answer(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


@pytest.fixture
def stub() -> Iterator[Callable[[Handler], StubServer]]:
    with stub_servers.each_closed(StubServer) as start:
        yield start


@pytest.fixture
def refused_url() -> str:
    return stub_servers.refused_url()
