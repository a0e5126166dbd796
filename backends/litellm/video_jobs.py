"""A video shot on the provider behind the proxy: created, followed to its end, downloaded.

`POST /v1/videos` creates the job (at a length the provider makes), `GET /v1/videos/{id}` is
polled (its `progress` becomes the shot's progress) until the job ends, then
`GET /v1/videos/{id}/content` is streamed to disk. A video made before a restart is followed the
same way (`LiteLLMBackend.resume`), so a finished video is fetched again, never made again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

from ...shots import MediaKind, ShotSpec
from ..base import (
    BackendBusy,
    BackendError,
    BackendUnreachable,
    Cancelled,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    Progress,
    ProgressCallback,
    ProtocolError,
    announce_server_job,
    shot_cancelled,
)
from ..files import sanitize_filename, unique_path
from ..media_check import verifier
from ..server_job import ServerJob
from .client import LiteLLMClient, VideoJob
from .cloud_model import CloudModel, choose_seconds, choose_size, stated_seconds, take_parameters
from .errors import ContentRefused
from .media import reported_cost

log = logging.getLogger(__name__)


class VideoJobs:
    """The video shots of LiteLLMBackend, which provides the attributes below."""

    client: LiteLLMClient
    base_url: str
    instance_id: str
    display_name: str
    poll_interval: float

    def _run_video(
        self,
        model: CloudModel,
        request: GenerationRequest,
        report: ProgressCallback,
        cancel: threading.Event,
        job_guard: ServerJob,
    ) -> GenerationResult:
        spec = request.spec
        size = choose_size(spec.width, spec.height, model.sizes)
        seconds = choose_seconds(spec.duration_seconds, model.seconds)
        report(Progress(0.02, f"sending to LiteLLM model {model.name}"))

        headers: dict[str, str] = {}

        def create(seconds: int) -> VideoJob:
            return self.client.create_video(
                model.name, spec.prompt, seconds=seconds, size=size, input_reference=spec.init_image or None,
                extra=model.extra, headers_out=headers,
            )  # fmt: skip

        try:
            job = create(seconds)
        except InvalidRequest as exc:
            # Providers make fixed lengths (Sora: 4, 8 or 12 s) and say so in their refusal: when the
            # settings did not list them, take the shortest stated one that covers the shot, once.
            stated = stated_seconds(exc.message) if not model.seconds else ()
            if not stated:
                raise
            seconds = choose_seconds(spec.duration_seconds, stated)
            report(Progress(0.03, f"{model.name} makes {'/'.join(map(str, stated))} s videos: asking for {seconds} s"))
            job = create(seconds)
        video_id = job.id  # LiteLLM's encoded id: it routes later calls to the same deployment
        announce_server_job(report, video_id)
        job_guard.started(lambda: self.client.delete_video(video_id))
        cost = reported_cost(headers)
        return self._follow_video(model, request, video_id, job, report, cancel, cost, seconds, job_guard)

    def _follow_video(
        self,
        model: CloudModel,
        request: GenerationRequest,
        video_id: str,
        job: VideoJob,
        report: ProgressCallback,
        cancel: threading.Event,
        cost: float | None,
        seconds: int,
        job_guard: ServerJob,
    ) -> GenerationResult:
        spec = request.spec
        size = choose_size(spec.width, spec.height, model.sizes)
        job = self._wait_for_video(model, video_id, job, report, cancel, job_guard, spec)
        job_guard.finished()
        announce_server_job(report, video_id, stage="finished")
        report(Progress(0.92, "downloading the video"))
        stem = sanitize_filename(request.file_stem, fallback="take")
        os.makedirs(request.output_dir, exist_ok=True)
        destination = unique_path(request.output_dir, stem + ".mp4")
        check = verifier(MediaKind.VIDEO, source=f"LiteLLM at {self.base_url}", what=f"the video of '{model.name}'")
        self.client.download_video(video_id, destination, model=model.name, verify=check)
        if cancel.is_set():
            with contextlib.suppress(OSError):
                os.unlink(destination)
            raise Cancelled("the job was cancelled while its video was downloading")
        report(Progress(1.0, "downloaded"))
        parameters = take_parameters(
            model,
            spec,
            self.base_url,
            self.instance_id,
            size=job.size or size,
            seconds=_whole(job.seconds, seconds),
            prompt=spec.prompt,
            init_image=bool(spec.init_image),
        )
        return GenerationResult(
            files=(destination,), model=model.name, parameters=parameters, server_job_id=video_id, cost=cost
        )

    def _wait_for_video(
        self,
        model: CloudModel,
        video_id: str,
        job: VideoJob,
        report: ProgressCallback,
        cancel: threading.Event,
        job_guard: ServerJob,
        spec: ShotSpec,
    ) -> VideoJob:
        failures = 0
        while not job.done:
            report(
                Progress(
                    0.05 + 0.85 * min(100.0, max(0.0, job.progress)) / 100,
                    f"{job.status.replace('_', ' ')} on {model.name} ({job.progress:.0f}%)",
                )
            )
            if cancel.wait(self.poll_interval):
                self._forget_video(video_id)
                raise shot_cancelled(spec, f"LiteLLM at {self.base_url} ({model.name})", video_id)
            job_guard.check()  # past the deadline: the video is deleted on the provider, JobTimedOut
            try:
                job = self.client.video_status(video_id, model=model.name)
                failures = 0
            except (BackendUnreachable, BackendBusy, ProtocolError) as exc:
                # A paid job keeps running on the provider: a few blips must not lose it.
                failures += 1
                if failures >= 4:
                    raise
                log.info("%s: status of %s failed (%s); trying again", self.display_name, video_id, exc)
        if job.status != "completed":
            raise _video_failure(job, model, self.base_url)
        return job

    def _forget_video(self, video_id: str) -> None:
        try:
            self.client.delete_video(video_id)
        except BackendError as exc:
            log.info("%s: could not delete video %s after cancel: %s", self.display_name, video_id, exc)


def _video_failure(job: VideoJob, model: CloudModel, url: str) -> BackendError:
    error = job.error or {}
    code = str(error.get("code") or job.status)
    message = str(error.get("message") or f"the video ended as '{job.status}'")
    if any(marker in code.lower() for marker in ("moderation", "content_policy", "safety")):
        return ContentRefused(
            f"the provider behind LiteLLM at {url} refused the video ({code}): {message}",
            hint="Rephrase the prompt; the provider's safety filter rejected it.",
        )
    return ProtocolError(
        f"model '{model.name}' failed the video ({code}): {message}",
        hint="The provider failed the job; generate again or route the shot elsewhere.",
    )


def _whole(text: str, default: int) -> int:
    """A provider's "8" as 8; anything else (empty, "1e999", "eight") as what was asked for."""
    return int(text) if text.strip().isdigit() and len(text.strip()) < 6 else default
