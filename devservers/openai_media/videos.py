"""The /v1/videos endpoints of the OpenAI media reference server: a job per request, made on its own
thread (queued, in_progress, completed or failed), listed, polled, deleted and downloaded."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..comfyui.drawing import RenderedFrames
from ..comfyui.media import encode_video, png_bytes
from ..common.cut import cut_off
from .api import ApiError, fail_mode, parse_size, prompt_seed

log = logging.getLogger("devservers.openai_media")


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


class VideoEndpoints:
    """The video endpoints of OpenAIMediaServer, which holds the state they use (declared here)."""

    videos: dict[str, VideoJob]
    output_dir: str
    video_job_seconds: float
    video_fps: float
    video_seconds: tuple[str, ...]
    max_side: int
    _cut: set[str]
    _lock: threading.Lock
    _stopping: threading.Event
    _record: Callable[[web.Request, dict[str, Any]], None]
    _fail_for: Callable[..., None]
    _fields: Callable[[web.Request], Awaitable[tuple[dict[str, Any], dict[str, tuple[str, bytes]]]]]

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
