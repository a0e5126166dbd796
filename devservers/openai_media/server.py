"""`OpenAIMediaServer`: an OpenAI-compatible endpoint for images, videos and transcriptions.

The real LiteLLM proxy forwards to it (as the `api_base` of `openai/...` models), so the whole
path user -> proxy -> provider runs for real without a cloud account. It answers in OpenAI's
shapes and returns real media: PNG images and MP4 videos that show the prompt (drawn and encoded
with devservers/comfyui/media.py), and transcriptions whose segment times come from the sound.

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
import contextlib
import hashlib
import logging
import math
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..comfyui.drawing import RenderedFrames
from ..comfyui.media import encode_video, png_bytes
from ..common.cut import cut_off
from ..common.runner import BackgroundServer
from .speech import UndecodableAudio, recognise

log = logging.getLogger("devservers.openai_media")

MAX_UPLOAD = 25 * 1024 * 1024  # OpenAI's limit for /audio/transcriptions
DEFAULT_VIDEO_SECONDS = ("4", "8", "12")
_FAIL = re.compile(r"\[\[fail:(\w+)\]\]")
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")


class ApiError(Exception):
    """Answered as OpenAI's error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return web.json_response(body, status=self.status, headers=self.headers)


@dataclass
class VideoJob:
    id: str
    model: str
    prompt: str
    seconds: str
    width: int
    height: int
    seed: int
    fail: bool
    cut_download: bool = False
    created_at: int = field(default_factory=lambda: int(time.time()))
    status: str = "queued"
    progress: int = 0
    completed_at: int | None = None
    error: dict[str, Any] | None = None
    path: str = ""
    thumbnail: bytes = b""

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "video",
            "created_at": self.created_at,
            "status": self.status,
            "completed_at": self.completed_at,
            "expires_at": self.completed_at + 3600 if self.completed_at else None,
            "error": self.error,
            "model": self.model,
            "progress": self.progress,
            "remixed_from_video_id": None,
            "seconds": self.seconds,
            "size": f"{self.width}x{self.height}",
            "prompt": self.prompt,
        }


def prompt_seed(prompt: str) -> int:
    return int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big")


def parse_size(value: Any, *, default: str, max_side: int, param: str = "size") -> tuple[int, int]:
    text = str(value or default).strip().lower()
    if text == "auto":
        text = default
    match = _SIZE.match(text)
    if not match:
        raise ApiError(
            400, f"Invalid value: '{value}'. Expected a size like '1024x1024'.", param=param, code="invalid_value"
        )
    width, height = int(match.group(1)), int(match.group(2))
    if not (16 <= width <= max_side and 16 <= height <= max_side):
        raise ApiError(
            400,
            f"Invalid value: '{value}'. Each side must be between 16 and {max_side} pixels.",
            param=param,
            code="invalid_value",
        )
    return width, height


def fail_mode(prompt: str) -> str | None:
    match = _FAIL.search(prompt or "")
    return match.group(1) if match else None


def raise_for_fail_mode(mode: str | None, retry_after: float = 3.0) -> None:
    if mode == "content_policy":
        raise ApiError(
            400,
            "Your request was rejected as a result of our safety system. Your prompt may contain"
            " text that is not allowed by our safety system.",
            code="content_policy_violation",
        )
    if mode == "rate_limit":
        raise ApiError(
            429,
            "Rate limit reached for requests. Please try again in 20s.",
            type_="requests",
            code="rate_limit_exceeded",
        )
    if mode in ("rate_wait", "rate_wait_once"):
        wait = f"{retry_after:g}"
        raise ApiError(
            429,
            f"Rate limit reached for images per minute. Please try again in {wait}s.",
            type_="requests",
            code="rate_limit_exceeded",
            headers={"Retry-After": wait},
        )
    if mode == "server":
        raise ApiError(
            500, "The server had an error while processing your request. Sorry about that!", type_="server_error"
        )


class OpenAIMediaServer(BackgroundServer):
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

    async def create_video(self, request: web.Request) -> web.Response:
        fields, files = await self._fields(request)
        self._record(request, {**fields, "files": {k: (name, len(data)) for k, (name, data) in files.items()}})
        prompt = str(fields.get("prompt") or "")
        if not prompt.strip():
            raise ApiError(
                400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter"
            )
        mode = fail_mode(prompt)
        if mode not in ("job", "cut_download"):
            self._fail_for(prompt, str(fields.get("model") or ""))
        seconds = str(fields.get("seconds") or self.video_seconds[0])
        if seconds not in self.video_seconds:
            allowed = ", ".join(f"'{s}'" for s in self.video_seconds)
            raise ApiError(
                400,
                f"Invalid value: '{seconds}'. Supported values are: {allowed}.",
                param="seconds",
                code="invalid_value",
            )
        width, height = parse_size(fields.get("size"), default="720x1280", max_side=self.max_side)
        job = VideoJob(
            id=f"video_{secrets.token_hex(12)}",
            model=str(fields.get("model") or "sora-2"),
            prompt=prompt,
            seconds=seconds,
            width=width,
            height=height,
            seed=prompt_seed(prompt),
            fail=mode == "job",
            cut_download=mode == "cut_download",
        )
        with self._lock:
            self.videos[job.id] = job
        threading.Thread(target=self._run_video, args=(job,), name=f"video-{job.id}", daemon=True).start()
        return web.json_response(job.public())

    def _run_video(self, job: VideoJob) -> None:
        steps = 5
        for step in range(steps):
            if self._stopping.wait(self.video_job_seconds / steps):
                return
            with self._lock:
                job.status = "in_progress"
                job.progress = int(100 * step / steps)
            if job.fail and step == 2:
                with self._lock:
                    job.status, job.progress = "failed", 40
                    job.error = {
                        "code": "video_generation_failed",
                        "message": "Video generation failed: the reference server was told to fail.",
                    }
                return
        frames = RenderedFrames(
            job.width,
            job.height,
            max(1, round(float(job.seconds) * self.video_fps)),
            job.seed,
            job.prompt,
            f"{job.model} - {job.seconds}s - {job.width}x{job.height}",
        )
        path = os.path.join(self.output_dir, f"{job.id}.mp4")
        try:
            encode_video(path, frames, self.video_fps, metadata={"comment": job.prompt})
            thumbnail = png_bytes(frames.frame(0))
        except Exception as exc:  # pragma: no cover - encoding failure is the server's own bug
            log.exception("encoding %s failed", job.id)
            with self._lock:
                job.status, job.error = "failed", {"code": "internal_error", "message": str(exc)}
            return
        with self._lock:
            job.path, job.thumbnail = path, thumbnail
            job.status, job.progress, job.completed_at = "completed", 100, int(time.time())

    def _job(self, request: web.Request) -> VideoJob:
        video_id = request.match_info["video_id"]
        with self._lock:
            job = self.videos.get(video_id)
        if job is None:
            raise ApiError(404, f"Video with id '{video_id}' not found.", param="video_id", code="not_found")
        return job

    async def list_videos(self, request: web.Request) -> web.Response:
        with self._lock:
            data = [job.public() for job in self.videos.values()]
        return web.json_response({"object": "list", "data": data, "has_more": False})

    async def get_video(self, request: web.Request) -> web.Response:
        job = self._job(request)
        self._record(request, {})
        with self._lock:
            return web.json_response(job.public())

    async def delete_video(self, request: web.Request) -> web.Response:
        job = self._job(request)
        with self._lock:
            self.videos.pop(job.id, None)
        with contextlib.suppress(OSError):
            if job.path:
                os.unlink(job.path)
        return web.json_response({**job.public(), "deleted": True})

    async def video_content(self, request: web.Request) -> web.StreamResponse:
        job = self._job(request)
        self._record(request, dict(request.query))
        if job.status != "completed":
            raise ApiError(400, f"Video '{job.id}' is not ready: its status is '{job.status}'.", code="video_not_ready")
        variant = request.query.get("variant", "video")
        if variant == "thumbnail":
            return web.Response(body=job.thumbnail, content_type="image/png")
        if variant != "video":
            raise ApiError(
                400,
                f"Invalid value: '{variant}'. Supported values are: 'video' and 'thumbnail'.",
                param="variant",
                code="invalid_value",
            )
        with self._lock:
            cut = job.cut_download and job.id not in self._cut
            self._cut.add(job.id)
        if cut:
            return await cut_off(request, job.path, {"Content-Type": "video/mp4"})
        return web.FileResponse(job.path, headers={"Content-Type": "video/mp4"})

    async def transcriptions(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            raise ApiError(400, "The transcription endpoint expects multipart/form-data.")
        fields, files = await self._fields(request)
        self._record(request, {**fields, "files": {k: (name, len(data)) for k, (name, data) in files.items()}})
        if "file" not in files:
            raise ApiError(400, "Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
        self._fail_for(str(fields.get("prompt") or ""))  # the transcription's prompt may ask for a failure
        filename, data = files["file"]
        if len(data) > MAX_UPLOAD:
            raise ApiError(413, f"Maximum content size limit ({MAX_UPLOAD}) exceeded ({len(data)} bytes read)")
        try:
            segments, duration = await asyncio.to_thread(recognise, data)
        except UndecodableAudio:
            raise ApiError(
                400, f"The audio file '{filename}' could not be decoded or its format is not supported.", param="file"
            ) from None
        text = " ".join(segment.text for segment in segments)
        response_format = str(fields.get("response_format") or "json")
        usage = {"type": "duration", "seconds": math.ceil(duration)}
        if response_format == "json":
            return web.json_response({"text": text, "usage": usage})
        if response_format == "text":
            return web.Response(text=text + "\n", content_type="text/plain")
        if response_format in ("srt", "vtt"):
            return web.Response(text=_subtitles(segments, response_format), content_type="text/plain")
        if response_format != "verbose_json":
            raise ApiError(
                400,
                f"Invalid value: '{response_format}'. Supported values are: 'json', 'text', 'srt',"
                " 'verbose_json', and 'vtt'.",
                param="response_format",
                code="invalid_value",
            )
        body: dict[str, Any] = {
            "task": "transcribe",
            "language": str(fields.get("language") or "english"),
            "duration": duration,
            "text": text,
            "segments": [
                {
                    "id": index,
                    "seek": 0,
                    "start": segment.start,
                    "end": segment.end,
                    "text": " " + segment.text,
                    "tokens": [],
                    "temperature": 0.0,
                    "avg_logprob": -0.25,
                    "compression_ratio": 1.2,
                    "no_speech_prob": 0.01,
                }
                for index, segment in enumerate(segments)
            ],
            "usage": usage,
        }
        if "word" in (fields.get("timestamp_granularities") or []):
            body["words"] = [word for segment in segments for word in _words(segment)]
        return web.json_response(body)


def _words(segment: Any) -> list[dict[str, Any]]:
    words = segment.text.split()
    if not words:
        return []
    step = (segment.end - segment.start) / len(words)
    return [
        {"word": word, "start": round(segment.start + i * step, 3), "end": round(segment.start + (i + 1) * step, 3)}
        for i, word in enumerate(words)
    ]


def _subtitles(segments: list[Any], kind: str) -> str:
    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        h, rest = divmod(millis, 3_600_000)
        m, rest = divmod(rest, 60_000)
        s, ms = divmod(rest, 1000)
        return f"{h:02}:{m:02}:{s:02}{',' if kind == 'srt' else '.'}{ms:03}"

    blocks = [f"{i + 1}\n{stamp(s.start)} --> {stamp(s.end)}\n{s.text}\n" for i, s in enumerate(segments)]
    if kind == "vtt":
        return "WEBVTT\n\n" + "\n".join(block.split("\n", 1)[1] for block in blocks)
    return "\n".join(blocks)
