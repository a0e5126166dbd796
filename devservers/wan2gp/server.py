"""`ReferenceWan2GP`: the aiohttp application (MCP endpoint, gallery transfer routes) and its lifecycle.

    server = ReferenceWan2GP(port=0, output_dir=..., step_seconds=0.01)
    url = server.start()          # serves on a background thread, returns "http://127.0.0.1:PORT"
    server.mcp_url                # url + "/mcp/"
    server.stop()

or from the command line: `python -m devservers.wan2gp --port 7866` (see __main__.py).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable

import av
from aiohttp import web
from PIL import Image

from ..common.auth import AccessRule
from ..common.cut import CutCounter, cut_off
from ..common.runner import BackgroundServer
from .catalogue import DOWNLOADED_MODELS, WEIGHTS_MODES, Catalogue, load_surface
from .gallery import MAX_UPLOAD_BYTES, Gallery, media_type_of
from .jobs import FAIL_MODES, Jobs
from .mcp import McpEndpoint, json_response
from .tools import DEFAULT_EVENT_LIMIT, Tools

log = logging.getLogger("devservers.wan2gp")


async def _as_uvicorn(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = "uvicorn"


class ReferenceWan2GP(BackgroundServer):
    """A Wan2GP 12.60 MCP server look-alike (no models, no torch) for development and tests."""

    label = "reference Wan2GP server"
    thread_name = "wan2gp-reference-http"
    runner_options = {"shutdown_timeout": 2.0}

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        output_dir: str | None = None,
        step_seconds: float = 0.05,
        fail_next: Iterable[str] | str | None = None,
        event_limit: int = DEFAULT_EVENT_LIMIT,
        allow_remote: bool = False,
        available_models: Iterable[str] = (),
        weights: str | None = None,
        cut_downloads: int = 0,
        access: AccessRule | None = None,
    ) -> None:
        super().__init__(host, port, allow_remote=allow_remote)
        self.access = access or AccessRule()  # credentials it requires, as a proxy in front of it would
        self.output_dir = os.path.abspath(output_dir or tempfile.mkdtemp(prefix="wan2gp-reference-"))
        os.makedirs(self.output_dir, exist_ok=True)
        failures = [fail_next] if isinstance(fail_next, str) else list(fail_next or [])
        if weights is None:  # a server started to fail for want of weights has none, as the capture machine
            weights = "missing" if "no-weights" in failures else "downloaded"
        if weights not in WEIGHTS_MODES:
            raise ValueError(f"unknown weights mode {weights!r}; use one of {', '.join(WEIGHTS_MODES)}")
        available = list(available_models)
        # "downloaded": a normal install has its usual models; "missing": none (as the capture machine).
        self.weights = weights
        self.catalogue = Catalogue(available=[*(DOWNLOADED_MODELS if weights == "downloaded" else ()), *available])
        unknown = sorted(set(available) - set(self.catalogue.entries))
        if unknown:
            raise ValueError(f"unknown model_type {unknown[0]!r} for --available-model")
        self.gallery = Gallery()
        self.cut_downloads = CutCounter(cut_downloads)  # the next N gallery downloads are cut off halfway
        self.jobs = Jobs(self.catalogue, self.gallery, self.output_dir, step_seconds)
        self.tools = Tools(self.catalogue, self.gallery, self.jobs, event_limit=event_limit)
        self.surface = load_surface()
        self.endpoint: McpEndpoint | None = None
        for mode in failures:
            self.jobs.add_fail_next(mode)

    @property
    def mcp_url(self) -> str:
        return self.url + "/mcp/"

    def add_fail_next(self, mode: str) -> None:
        """Thread-safe: the next job's first task fails this way."""
        if mode not in FAIL_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; use one of {', '.join(FAIL_MODES)}")
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.jobs.add_fail_next, mode)
        else:
            self.jobs.add_fail_next(mode)

    # ------------------------------------------------------------------ lifecycle
    async def build_app(self) -> web.Application:
        self.endpoint = McpEndpoint(self.tools, self.surface)
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES, middlewares=[self.access.middleware()])
        app.on_response_prepare.append(_as_uvicorn)
        app.router.add_route("*", "/mcp", self.endpoint.redirect)
        app.router.add_route("*", "/mcp/", self.endpoint.handle)
        app.router.add_route("*", "/wangp_api/gallery/upload/{token}", self.upload)
        app.router.add_route("*", "/wangp_api/gallery/download/{token}", self.download)
        app.router.add_route("*", "/reference/fail-next", self.fail_next_route)
        app.router.add_route("GET", "/reference/state", self.state_route)
        app.router.add_route("*", "/{tail:.*}", self.not_found)
        return app

    async def shutting_down(self) -> None:
        if self.endpoint is not None:
            self.endpoint.closing.set()
        await self.jobs.shutdown()

    # ------------------------------------------------------------------ plain HTTP routes
    async def not_found(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="Not Found", content_type="text/plain", charset="utf-8")

    async def upload(self, request: web.Request) -> web.Response:
        if request.method != "PUT":
            return _method_not_allowed("PUT")
        ticket = self.gallery.take_token("upload", request.match_info["token"])
        if ticket is None:
            return json_response(404, {"error": "Upload expired or not found."})
        length = request.headers.get("Content-Length")
        if length is not None and (not length.isdigit()):
            return json_response(400, {"error": "Invalid Content-Length header."})
        if length is not None and int(length) > MAX_UPLOAD_BYTES:
            return json_response(413, {"error": f"Upload exceeds the {MAX_UPLOAD_BYTES}-byte limit."})
        folder = os.path.join(self.output_dir, "mcp_uploads", uuid.uuid4().hex)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, ticket.filename)
        size = 0
        with open(path, "wb") as handle:
            async for chunk in request.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    break
                handle.write(chunk)
        if size > MAX_UPLOAD_BYTES:
            shutil.rmtree(folder, ignore_errors=True)
            return json_response(413, {"error": f"Upload exceeds the {MAX_UPLOAD_BYTES}-byte limit."})
        media_type = media_type_of(ticket.filename) or "image"
        problem = await asyncio.get_running_loop().run_in_executor(None, _check_media, path, media_type)
        if problem is not None:
            shutil.rmtree(folder, ignore_errors=True)
            return json_response(400, {"error": problem})
        record = self.gallery.add(path, media_type)
        return json_response(200, {"status": "uploaded", "size": size, **record})

    async def download(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed("GET")
        ticket = self.gallery.take_token("download", request.match_info["token"])
        if ticket is None:
            return json_response(404, {"error": "Download expired or not found."})
        try:
            item = self.gallery.find(ticket.gallery_id)
        except KeyError:
            return json_response(404, {"error": "Download expired or not found."})
        if not os.path.isfile(item.path):
            return json_response(404, {"error": "Download expired or not found."})
        name = os.path.basename(item.path)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if self.cut_downloads.take():  # dev-only mode
            headers = {"Content-Type": content_type, "Content-Disposition": f'attachment; filename="{name}"'}
            return await cut_off(request, item.path, headers)
        return web.FileResponse(
            item.path,
            headers={"Content-Type": content_type, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def fail_next_route(self, request: web.Request) -> web.Response:
        """Dev-only (not in Wan2GP): POST {"mode": "oom"|"error"|"none"}; GET lists what is queued."""
        if request.method == "POST":
            try:
                mode = (await request.json()).get("mode")
            except (ValueError, AttributeError):
                return json_response(400, {"error": 'send {"mode": "oom" | "error" | "none"}'})
            if mode == "none":
                self.jobs.fail_next.clear()
            elif mode in FAIL_MODES:
                self.jobs.add_fail_next(mode)
            else:
                return json_response(400, {"error": f"unknown mode {mode!r}; use one of {', '.join(FAIL_MODES)}"})
        elif request.method != "GET":
            return _method_not_allowed("GET, POST")
        return json_response(200, {"fail_next": list(self.jobs.fail_next)})

    async def state_route(self, request: web.Request) -> web.Response:
        """Dev-only (not in Wan2GP): whether a job runs, for tests that wait for an idle server."""
        active = self.jobs.active
        busy = active is not None and not active.done
        return json_response(
            200,
            {
                "busy": busy,
                "active_job": active.job_id if busy and active else None,
                "jobs": len(self.jobs.jobs),
                "fail_next": list(self.jobs.fail_next),
            },
        )


def _method_not_allowed(allow: str) -> web.Response:
    return web.Response(status=405, text="Method Not Allowed", content_type="text/plain", charset="utf-8",
                        headers={"Allow": allow})  # fmt: skip


def _check_media(path: str, media_type: str) -> str | None:
    """Why the uploaded file is not usable media, or None. Images are opened like WanGP does (Pillow)."""
    try:
        if media_type == "image":
            with Image.open(path) as image:
                image.verify()
        else:
            with av.open(path) as container:
                if not container.streams:
                    return f"no media streams in '{path}'"
    except Exception as exc:
        return str(exc)
    return None
