"""Loopback servers for the client tests under tests/backends, for what no real server sends.

* `RawServer` answers every connection with fixed bytes: not HTTP at all, a body cut short, a reset.
* `refused_url()` is an address where nothing listens.
* `each_closed(RawServer)` is the body of a fixture that starts servers on demand and closes them all.

The scripted HTTP stubs (StubComfy, StubMcp, the LiteLLM StubServer) speak each protocol and stay
in their suite's conftest; an aiohttp one serves through devservers.common.runner like the
reference servers do.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

from devservers.common.launch import free_port


class Closable(Protocol):
    def close(self) -> None: ...


Server = TypeVar("Server", bound=Closable)


class RawServer:
    """Accepts connections, reads the request, sends `payload`, then closes (with `reset`: resets)."""

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
                self._read_request(connection)
                connection.sendall(self.payload)
                if self.reset:  # RST instead of FIN: the client sees "connection reset"
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    @staticmethod
    def _read_request(connection: socket.socket) -> None:
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                return
            received += chunk
        # Read the whole body too: closing with unread data would reset the connection.
        head, _, body = received.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        while length and len(body) < int(length.group(1)):
            chunk = connection.recv(65536)
            if not chunk:
                return
            body += chunk

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


def refused_url(path: str = "") -> str:
    """An address where nothing listens: a port that was just free."""
    return f"http://127.0.0.1:{free_port()}{path}"


@contextlib.contextmanager
def each_closed(factory: Callable[..., Server]) -> Iterator[Callable[..., Server]]:
    """`factory`, remembering what it made; all of it is closed when the block ends."""
    servers: list[Server] = []

    def start(*args: object, **kwargs: object) -> Server:
        server = factory(*args, **kwargs)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.close()
