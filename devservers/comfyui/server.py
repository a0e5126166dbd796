"""`ReferenceComfyUI`: the aiohttp application, websocket hub and lifecycle.

Use in-thread (tests, other tools):

    server = ReferenceComfyUI(port=0, output_dir=..., step_seconds=0.01)
    url = server.start()          # serves on a background thread, returns "http://127.0.0.1:PORT"
    ...
    server.stop()

or from the command line: `python -m devservers.comfyui --port 8188` (see __main__.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import tempfile
import urllib.parse
import uuid
from collections.abc import Iterable

from aiohttp import WSMsgType, web

from ..common.auth import AccessRule
from ..common.cut import CutCounter
from ..common.runner import BackgroundServer, is_loopback
from . import routes
from .catalogue import DEFAULT_MODELS, Catalogue, parse_models
from .executor import FAIL_MODES, Worker
from .prompt_queue import PromptQueue
from .validation import Validator

log = logging.getLogger("devservers.comfyui")

MAX_UPLOAD_SIZE = 100 * 1024 * 1024
SERVER_FEATURES = {"supports_preview_metadata": True, "max_upload_size": MAX_UPLOAD_SIZE}
PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA = 1, 4
PREVIEW_FORMATS = {"jpeg": 1, "png": 2}  # the type-1 frame's image format word


@web.middleware
async def origin_guard(request: web.Request, handler):
    """Reject cross-origin requests to a loopback server (Host and Origin names must match)."""
    host, origin = request.headers.get("Host"), request.headers.get("Origin")
    if host and origin:
        parsed_origin = urllib.parse.urlparse(origin)
        parsed_host = urllib.parse.urlsplit("//" + host.lower())
        host_name = host.lower() if parsed_origin.port is not None else parsed_host.hostname
        origin_name = parsed_origin.netloc.lower() if parsed_host.port is not None else parsed_origin.hostname
        if is_loopback(parsed_host.hostname) and host_name and origin_name and host_name != origin_name:
            return web.Response(status=403)
    if request.method == "OPTIONS":
        return web.Response()
    return await handler(request)


class ReferenceComfyUI(BackgroundServer):
    """A ComfyUI 0.3.64 look-alike (no models, no torch) for development and tests."""

    label = "reference ComfyUI server"
    thread_name = "comfyui-reference-http"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        output_dir: str | None = None,
        input_dir: str | None = None,
        temp_dir: str | None = None,
        models: Iterable[str] | None = None,
        step_seconds: float = 0.05,
        vram_gb: float | None = None,
        fail_next: Iterable[str] | str | None = None,
        preview_method: str = "auto",
        preview_format: str = "png",
        slow_step_seconds: float = 0.5,
        allow_remote: bool = False,
        argv: list[str] | None = None,
        damaged_models: Iterable[str] = (),
        interrupt_lag_seconds: float = 0.0,
        cut_downloads: int = 0,
        access: AccessRule | None = None,
    ):
        super().__init__(host, port, allow_remote=allow_remote)
        self.access = access or AccessRule()  # credentials it requires, as a proxy in front of it would
        base = None
        if not (output_dir and input_dir and temp_dir):
            base = tempfile.mkdtemp(prefix="comfyui-reference-")
        self.directories = {
            "output": os.path.abspath(output_dir or os.path.join(base or "", "output")),
            "input": os.path.abspath(input_dir or os.path.join(base or "", "input")),
            "temp": os.path.abspath(temp_dir or os.path.join(base or "", "temp")),
        }
        for path in self.directories.values():
            os.makedirs(path, exist_ok=True)
        damaged = parse_models(damaged_models)
        self.models = parse_models([*(DEFAULT_MODELS if models is None else models), *damaged_models])
        self.vram_gb = vram_gb
        self.argv = argv or ["main.py"]
        self.catalogue = Catalogue(self.models, self.directories["input"])
        self.validator = Validator(self.catalogue, self.directories)
        self.queue = PromptQueue(self.queue_updated)
        if preview_format not in PREVIEW_FORMATS:
            raise ValueError(f"unknown preview format {preview_format!r}; use png or jpeg")
        self.worker = Worker(
            self.catalogue,
            self.queue,
            self,
            self.directories,
            step_seconds,
            preview_method,
            self.supports_metadata,
            preview_format=preview_format,
            slow_step_seconds=slow_step_seconds,
            damaged_models={(folder, name) for folder, names in damaged.items() for name in names},
            interrupt_lag_seconds=interrupt_lag_seconds,
        )
        for mode in [fail_next] if isinstance(fail_next, str) else list(fail_next or []):
            self.add_fail_next(mode)
        self.number = 0
        self.cut_downloads = CutCounter(cut_downloads)  # the next N /view downloads of outputs are cut off
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.socket_meta: dict[str, dict] = {}
        self.outbox: asyncio.Queue | None = None

    def add_fail_next(self, mode: str) -> None:
        if mode not in FAIL_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; use one of {', '.join(FAIL_MODES)}")
        self.worker.fail_next.append(mode)

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 30.0) -> str:
        """Serve on a background thread; returns the base URL once the port is bound."""
        url = super().start(timeout)
        self.worker.start()
        return url

    def stop(self) -> None:
        self.worker.stop()
        super().stop()

    async def build_app(self) -> web.Application:
        self.outbox = asyncio.Queue()
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE, middlewares=[self.access.middleware(), origin_guard])
        table = web.RouteTableDef()
        routes.register(self, table)
        table.get("/ws")(self.websocket_handler)
        app.add_routes(table)
        api = web.RouteTableDef()
        for route in table:
            assert isinstance(route, web.RouteDef)
            api.route(route.method, "/api" + route.path)(route.handler)
        app.add_routes(api)
        return app

    async def started(self) -> None:
        self._publisher = asyncio.ensure_future(self._publish())

    async def shutting_down(self) -> None:
        for ws in list(self.sockets.values()):
            with contextlib.suppress(Exception):
                await ws.close()
        self._publisher.cancel()

    # ------------------------------------------------------------------ websocket hub
    def queue_info(self) -> dict:
        return {"exec_info": {"queue_remaining": self.queue.remaining()}}

    def queue_updated(self) -> None:
        self.send("status", {"status": self.queue_info()}, None)

    def send(self, event: str, data: dict, sid: str | None) -> None:
        """Queue a text message (thread-safe). sid None broadcasts."""
        text = json.dumps({"type": event, "data": data})
        self._post(("text", text, sid))

    def send_preview(self, image: bytes, metadata: dict, sid: str | None, fmt: str = "png") -> None:
        if metadata:
            header = json.dumps(metadata).encode()
            frame = struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(header)) + header + image
        else:
            frame = struct.pack(">II", PREVIEW_IMAGE, PREVIEW_FORMATS[fmt]) + image
        self._post(("bytes", frame, sid))

    def drop_client(self, sid: str | None) -> None:
        """Cut the client's websocket without a close frame (failure simulation)."""
        self._post(("drop", None, sid))

    def supports_metadata(self, sid: str | None) -> bool:
        meta = self.socket_meta.get(sid or "")
        return bool(meta and meta["feature_flags"].get("supports_preview_metadata"))

    def _post(self, message: tuple) -> None:
        loop, outbox = self.loop, self.outbox
        if loop is None or outbox is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop already stopped
            loop.call_soon_threadsafe(outbox.put_nowait, message)

    async def _publish(self) -> None:
        assert self.outbox is not None
        while True:
            kind, payload, sid = await self.outbox.get()
            if sid is None:
                targets = list(self.sockets.items())
            else:
                targets = [(sid, self.sockets[sid])] if sid in self.sockets else []
            for target_sid, ws in targets:
                try:
                    if kind == "text":
                        await ws.send_str(payload)
                    elif kind == "bytes":
                        await ws.send_bytes(payload)
                    elif kind == "drop":
                        transport = self.socket_meta.get(target_sid, {}).get("transport")
                        self.sockets.pop(target_sid, None)
                        self.socket_meta.pop(target_sid, None)
                        if transport is not None:
                            transport.abort()
                except Exception as exc:  # client went away mid-send
                    log.debug("websocket send to %s failed: %s", target_sid, exc)

    async def websocket_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        transport = request.transport
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "") or uuid.uuid4().hex
        self.sockets[sid] = ws
        self.socket_meta[sid] = {"feature_flags": {}, "transport": transport}
        try:
            self.send("status", {"status": self.queue_info(), "sid": sid}, sid)
            job = self.worker.current
            if job is not None and job.client_id == sid and self.worker.last_node_id is not None:
                self.send("executing", {"node": self.worker.last_node_id}, sid)
            first = True
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                except json.JSONDecodeError:
                    continue
                if first and isinstance(data, dict) and data.get("type") == "feature_flags":
                    flags = data.get("data")
                    self.socket_meta[sid]["feature_flags"] = flags if isinstance(flags, dict) else {}
                    self.send("feature_flags", dict(SERVER_FEATURES), sid)
                first = False
        finally:
            if self.sockets.get(sid) is ws:
                self.sockets.pop(sid, None)
                self.socket_meta.pop(sid, None)
        return ws
