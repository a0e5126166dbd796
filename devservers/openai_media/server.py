"""`OpenAIMediaServer`: an OpenAI-compatible endpoint for images, videos and transcriptions.

The real LiteLLM proxy forwards to it (as the `api_base` of `openai/...` models), so the whole
path user -> proxy -> provider runs for real without a cloud account. It answers in OpenAI's
shapes and returns real media: PNG images and MP4 videos that show the prompt (drawn and encoded
with devservers/comfyui/drawing.py and media.py), and transcriptions whose segment times come from the sound.

    server = OpenAIMediaServer(api_key="sk-media", video_job_seconds=0.5)
    url = server.start()      # "http://127.0.0.1:PORT"; give LiteLLM api_base = url + "/v1"
    ...
    server.stop()

Failure simulation: a prompt containing `[[fail:MODE]]` fails the request the way the provider
would. MODE is `content_policy` (400 content_policy_violation), `rate_limit` (429), `server`
(500), or for videos `job` (accepted, then the job ends with status "failed"). `rate_wait` is a
429 whose message says "Please try again in Ns." and whose `Retry-After` header says N (the
server's `retry_after_seconds`), every time; `rate_wait_once` answers so only the first time a
prompt is sent; a model in `rate_limited_models` answers `rate_wait` to every prompt. For videos,
`cut_download` drops the connection halfway through the first download of the finished video
(later downloads are whole). `calls(method, path)` counts what arrived.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from ..comfyui.drawing import RenderedFrames
from ..comfyui.media import png_bytes
from ..common.runner import BackgroundServer
from .api import MAX_UPLOAD, ApiError, fail_mode, parse_size, prompt_seed, raise_for_fail_mode
from .transcripts import TranscriptionEndpoints
from .videos import VideoEndpoints, VideoJob

DEFAULT_VIDEO_SECONDS = ("4", "8", "12")


class OpenAIMediaServer(VideoEndpoints, TranscriptionEndpoints, BackgroundServer):
    """The reference endpoint, served by aiohttp on a background thread."""

    label = "the OpenAI media reference server"
    thread_name = "openai-media-http"
    remote_override = "allow_remote=True to override"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        output_dir: str | None = None,
        video_job_seconds: float = 1.0,
        video_fps: float = 24.0,
        video_seconds: Iterable[str] = DEFAULT_VIDEO_SECONDS,
        max_side: int = 2048,
        retry_after_seconds: float = 3.0,
        allow_remote: bool = False,
    ) -> None:
        super().__init__(host, port, allow_remote=allow_remote)
        self.api_key = api_key
        self.output_dir = os.path.abspath(output_dir or tempfile.mkdtemp(prefix="openai-media-"))
        os.makedirs(self.output_dir, exist_ok=True)
        self.video_job_seconds = video_job_seconds
        self.video_fps = video_fps
        self.video_seconds = tuple(str(s) for s in video_seconds)
        self.max_side = max_side
        self.retry_after_seconds = retry_after_seconds
        self.rate_limited_models: set[str] = set()  # the provider answers `rate_wait` to every request for these
        self._once: set[str] = set()  # prompts whose one-time failure (`rate_wait_once`) has happened
        self._cut: set[str] = set()  # videos whose first download was cut off (`cut_download`)
        self.videos: dict[str, VideoJob] = {}
        self.requests: list[dict[str, Any]] = []  # what arrived (fields only, never file bytes or keys)
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # ends the video jobs' threads

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    async def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024, middlewares=[self._middleware])
        app.add_routes(
            [
                web.get("/v1/models", self.list_models),
                web.post("/v1/images/generations", self.images_generations),
                web.post("/v1/videos", self.create_video),
                web.get("/v1/videos", self.list_videos),
                web.get("/v1/videos/{video_id}", self.get_video),
                web.delete("/v1/videos/{video_id}", self.delete_video),
                web.get("/v1/videos/{video_id}/content", self.video_content),
                web.post("/v1/audio/transcriptions", self.transcriptions),
                web.get("/media/{name}", self.media_file),
                web.get("/health", self.health),
            ]
        )
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            if request.path.startswith("/v1/") and self.api_key is not None:
                header = request.headers.get("Authorization", "")
                if header != f"Bearer {self.api_key}":
                    shown = header.removeprefix("Bearer ").strip()
                    shown = f"{shown[:3]}...{shown[-4:]}" if len(shown) > 8 else "(none)"
                    raise ApiError(
                        401,
                        f"Incorrect API key provided: {shown}. You can find your API key at"
                        " https://platform.openai.com/account/api-keys.",
                        code="invalid_api_key",
                    )
            response: web.StreamResponse = await handler(request)
            return response
        except ApiError as exc:
            return exc.response()

    def _record(self, request: web.Request, fields: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append({"method": request.method, "path": request.path, "fields": fields})

    def calls(self, method: str, path: str, prompt_part: str = "") -> int:
        """How many `method path` requests arrived (with `prompt_part` in their prompt, if given)."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r["method"] == method and r["path"] == path and prompt_part in str(r["fields"].get("prompt", ""))
            )

    def _fail_for(self, prompt: str, model: str = "") -> None:
        """Fail this request as its prompt's `[[fail:MODE]]` says (a one-time mode only the first time),
        or as a rate limit when its model is one of `rate_limited_models`."""
        mode = "rate_wait" if model in self.rate_limited_models else fail_mode(prompt)
        if mode == "rate_wait_once":
            with self._lock:
                if prompt in self._once:
                    return
                self._once.add(prompt)
        raise_for_fail_mode(mode, self.retry_after_seconds)

    async def _fields(self, request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        """JSON or multipart body as (fields, files); list fields (`x[]`) become lists."""
        if request.content_type.startswith("multipart/"):
            fields: dict[str, Any] = {}
            files: dict[str, tuple[str, bytes]] = {}
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename or "", value.file.read())
                elif key.endswith("[]"):
                    fields.setdefault(key[:-2], []).append(str(value))
                else:
                    fields[key] = str(value)
            return fields, files
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "We could not parse the JSON body of your request.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return body, {}

    # ------------------------------------------------------------------ endpoints
    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def list_models(self, request: web.Request) -> web.Response:
        models = ["gpt-image-1", "dall-e-3", "sora-2", "whisper-1"]
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "reference"}
                    for name in models
                ],
            }
        )

    async def images_generations(self, request: web.Request) -> web.Response:
        fields, _ = await self._fields(request)
        self._record(request, dict(fields))
        prompt = str(fields.get("prompt") or "")
        if not prompt.strip():
            raise ApiError(
                400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter"
            )
        self._fail_for(prompt, str(fields.get("model") or ""))
        width, height = parse_size(fields.get("size"), default="1024x1024", max_side=self.max_side)
        try:
            count = int(fields.get("n") or 1)
        except (TypeError, ValueError):
            raise ApiError(400, f"Invalid value for 'n': {fields.get('n')!r}.", param="n") from None
        if not 1 <= count <= 10:
            raise ApiError(400, f"Invalid 'n': {count}. It must be between 1 and 10.", param="n")
        response_format = str(fields.get("response_format") or "b64_json")
        if response_format not in ("b64_json", "url"):
            raise ApiError(
                400,
                f"Invalid value: '{response_format}'. Supported values are: 'url' and 'b64_json'.",
                param="response_format",
                code="invalid_value",
            )
        model = str(fields.get("model") or "gpt-image-1")
        seed = prompt_seed(prompt)
        data = []
        for index in range(count):
            caption = f"{model} - image {index + 1}/{count} - {width}x{height}"
            image = await asyncio.to_thread(self._render_png, width, height, seed + index, prompt, caption)
            if response_format == "url":
                name = f"img-{secrets.token_hex(8)}.png"
                with open(os.path.join(self.output_dir, name), "wb") as handle:
                    handle.write(image)
                data.append({"url": f"{self.url}/media/{name}", "revised_prompt": prompt})
            else:
                data.append({"b64_json": base64.b64encode(image).decode(), "revised_prompt": prompt})
        return web.json_response(
            {
                "created": int(time.time()),
                "data": data,
                "usage": {"input_tokens": len(prompt.split()), "output_tokens": 0, "total_tokens": len(prompt.split())},
            }
        )

    @staticmethod
    def _render_png(width: int, height: int, seed: int, prompt: str, caption: str) -> bytes:
        return png_bytes(RenderedFrames(width, height, 1, seed, prompt, caption).base)

    async def media_file(self, request: web.Request) -> web.StreamResponse:
        name = os.path.basename(request.match_info["name"])
        path = os.path.join(self.output_dir, name)
        if not name.startswith("img-") or not os.path.isfile(path):
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "image/png"})
