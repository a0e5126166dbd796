"""`BackgroundServer`: an aiohttp application served from its own event loop on a daemon thread.

    class MyServer(BackgroundServer):
        label = "the my reference server"       # "<label> did not start"
        thread_name = "my-reference-http"

        async def build_app(self) -> web.Application: ...

    server = MyServer(host="127.0.0.1", port=0)
    url = server.start()      # "http://127.0.0.1:PORT" once the port is bound
    server.stop()

Servers listen on loopback only unless `allow_remote` says otherwise: they have no access control.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from typing import Any, ClassVar, Self

from aiohttp import web


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BackgroundServer:
    """Subclasses build the app (`build_app`) and may add to the start (`started`) and the shutdown
    (`shutting_down`); `start()` returns once the port is bound, or raises what prevented it."""

    label: ClassVar[str] = "the reference server"
    thread_name: ClassVar[str] = "reference-http"
    remote_override: ClassVar[str] = "use --allow-remote, or allow_remote=True"
    runner_options: ClassVar[dict[str, Any]] = {}  # more web.AppRunner arguments

    def __init__(self, host: str, port: int, *, allow_remote: bool) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing to listen on non-loopback host {host!r} ({self.remote_override})")
        self.host, self.port = host, port
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def build_app(self) -> web.Application:
        raise NotImplementedError

    async def started(self) -> None:
        """Called on the loop once the port is bound."""

    async def shutting_down(self) -> None:
        """Called on the loop when the server stops, before the app's connections are closed."""

    def start(self, timeout: float = 30.0) -> str:
        """Serve on a background thread; returns the base URL once the port is bound."""
        self._thread = threading.Thread(target=self._thread_main, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self.label} did not start")
        if self._startup_error is not None:
            raise self._startup_error
        return self.url

    def stop(self) -> None:
        if self.loop is not None and self._thread is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=15)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_http())
        except BaseException as exc:  # handed to start(), which raises it in the caller's thread
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _start_http(self) -> None:
        app = await self.build_app()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, **self.runner_options)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        await self.started()

    async def _shutdown(self) -> None:
        await self.shutting_down()
        if self._runner is not None:
            await self._runner.cleanup()
