"""The LiteLLM backend: cloud image and video models behind one LiteLLM proxy, as routes for shots.

An image shot is one `POST /v1/images/generations`; a video shot is `POST /v1/videos`, polled
with `GET /v1/videos/{id}` (its `progress` becomes the shot's progress), then
`GET /v1/videos/{id}/content` streamed to disk. Which models it may use for which media is instance
configuration (`CloudModel`): exact names, and patterns that allow any model group the proxy lists
under a matching name (discovery.py), so a model added to the proxy needs no new settings.

The models are cloud models unless configured `local=True` (a model served on this machine behind
the proxy). Cloud offers exist only when the instance is built with `allow_cloud=True`, which the
caller sets from the project's cloud setting and Blender's online access.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...shots import MediaKind, Quality, ShotSpec
from ..base import (
    Backend,
    BackendBusy,
    BackendError,
    BackendUnreachable,
    Cancelled,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    JobLost,
    MissingResource,
    Offer,
    Progress,
    ProgressCallback,
    ProtocolError,
    announce_server_job,
)
from ..files import sanitize_filename, unique_path
from ..media_check import verifier
from ..policy import DEFAULT_POLICY, TransportPolicy
from ..server_job import ServerJob
from .client import DEFAULT_URL, GeneratedImage, LiteLLMClient, ModelEntry, Secret, VideoJob
from .discovery import ListedModels, is_pattern, match_listed
from .errors import ContentRefused, ProxyLimited

log = logging.getLogger(__name__)

_SIZE_FORMAT = r"^\d{2,5}x\d{2,5}$"


class CloudModel(BaseModel):
    """One image or video model group on the proxy, as the instance's settings describe it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="the model_name (model group) on the proxy")
    media: MediaKind
    quality: Quality = Quality.FINAL
    label: str = ""
    sizes: tuple[str, ...] = Field(default=(), description="sizes it accepts, e.g. 1280x720; empty: the shot's own")
    seconds: tuple[int, ...] = Field(default=(), description="video lengths it accepts; empty: the shot's, rounded up")
    extra: dict[str, Any] = Field(default_factory=dict, description="more request fields (quality, style, ...)")
    local: bool = False  # served on this machine behind the proxy (no cloud involved)

    @field_validator("media")
    @classmethod
    def _image_or_video(cls, value: MediaKind) -> MediaKind:
        if value not in (MediaKind.IMAGE, MediaKind.VIDEO):
            raise ValueError("a LiteLLM cloud model makes images or videos")
        return value

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for size in value:
            if not re.match(_SIZE_FORMAT, size):
                raise ValueError(f"size '{size}' is not WIDTHxHEIGHT (like 1280x720)")
        return value

    @field_validator("seconds")
    @classmethod
    def _seconds(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(s <= 0 for s in value):
            raise ValueError("video lengths must be positive")
        return tuple(sorted(set(value)))

    @property
    def display_label(self) -> str:
        return self.label or f"{self.name} ({'local' if self.local else 'cloud'})"


def cloud_models(entries: Iterable[dict[str, Any] | CloudModel]) -> list[CloudModel]:
    """CloudModels from plain settings, or InvalidRequest naming the entry and field that is wrong."""
    models: list[CloudModel] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, CloudModel):
            models.append(entry)
            continue
        try:
            models.append(CloudModel.model_validate(entry))
        except ValidationError as exc:
            name = entry.get("name") if isinstance(entry, dict) else None
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg'].removeprefix('Value error, ')}"
                for err in exc.errors()
            )
            raise InvalidRequest(
                f"LiteLLM model #{index + 1} ({name or '?'}) is misconfigured: {problems}",
                hint="Fix it in Shotcaller's LiteLLM preferences.",
            ) from None
    return models


@dataclass(frozen=True)
class LiteLLMProbe:
    url: str
    models: tuple[ModelEntry, ...]
    missing: tuple[str, ...]  # configured media models the proxy does not list for this key


def choose_size(width: int, height: int, sizes: Sequence[str]) -> str:
    """The shot's size, or among `sizes` the one closest in aspect ratio (then in area)."""
    if not sizes:
        return f"{width}x{height}"
    wanted = math.log(width / height)

    def distance(size: str) -> tuple[float, float]:
        w, h = (int(part) for part in size.split("x"))
        return abs(math.log(w / h) - wanted), abs(math.log((w * h) / (width * height)))

    return min(sizes, key=distance)


def choose_seconds(duration: float, allowed: Sequence[int]) -> int:
    """The shortest allowed length that covers the shot, else the longest (whole seconds up)."""
    needed = max(1, math.ceil(duration - 1e-6))
    if not allowed:
        return needed
    covering = [s for s in allowed if s >= needed]
    return min(covering) if covering else max(allowed)


class LiteLLMBackend(Backend):
    kind = "litellm"
    is_local = False  # the proxy forwards to cloud providers (see `is_local_offer` per model)

    def __init__(
        self,
        instance_id: str,
        base_url: str = DEFAULT_URL,
        api_key: str | Secret = "",
        models: Iterable[CloudModel | dict[str, Any]] = (),
        *,
        allow_cloud: bool = False,
        max_concurrent: int = 2,
        timeout: float = 120.0,
        poll_interval: float = 2.0,
        video_timeout: float | None = None,
        policy: TransportPolicy = DEFAULT_POLICY,
    ) -> None:
        super().__init__(instance_id, max_concurrent=max_concurrent)
        self.base_url = base_url.rstrip("/")
        self.client = LiteLLMClient(self.base_url, api_key, timeout=timeout, policy=policy)
        configured = cloud_models(models)
        self.models = {m.name: m for m in configured if not is_pattern(m.name)}
        # "gpt-image-*=image/final": any model group the proxy lists under that name (discovery.py)
        self.patterns = {m.name: m for m in configured if is_pattern(m.name)}
        self._listed: dict[str, CloudModel] = {}
        self._listed_lock = threading.Lock()
        self.allow_cloud = allow_cloud
        self.poll_interval = poll_interval
        self.video_timeout = policy.job_seconds if video_timeout is None else video_timeout

    def __repr__(self) -> str:
        return f"LiteLLMBackend({self.instance_id!r}, {self.base_url!r}, models={list(self.models)})"

    # --- what this instance offers ---------------------------------------------------------

    def offers(self) -> list[Offer]:
        with self._listed_lock:
            models = [*self.models.values(), *self._listed.values()]
        return [
            Offer(name=m.name, media=m.media, quality=m.quality, label=m.display_label, model=m.name)
            for m in models
            if m.local or self.allow_cloud
        ]

    def is_local_offer(self, offer: Offer) -> bool:
        model = self._model(offer.name)
        return bool(model and model.local)

    def discover(self) -> ListedModels:
        """Read the proxy's model list (network): the models the patterns allow become offers."""
        found = match_listed(
            self.client.models(),
            {m.name: m.media for m in self.models.values()},
            {m.name: m.media for m in self.patterns.values()},
            self.base_url,
        )
        listed = {
            name: self.patterns[pattern].model_copy(update={"name": name, "label": ""})
            for name, pattern in found.matched.items()
        }
        with self._listed_lock:
            self._listed = listed
        return found

    def _model(self, name: str) -> CloudModel | None:
        with self._listed_lock:
            return self.models.get(name) or self._listed.get(name)

    def probe(self) -> LiteLLMProbe:
        """Is the proxy up, and does it list every configured model for this key?"""
        self.client.liveliness()
        listed = tuple(self.client.models())
        names = {entry.id for entry in listed}
        return LiteLLMProbe(self.base_url, listed, tuple(name for name in self.models if name not in names))

    # --- one job ---------------------------------------------------------------------------

    def run(self, request: GenerationRequest, report: ProgressCallback, cancel: threading.Event) -> GenerationResult:
        model = self._model(request.offer.name)
        if model is None:
            raise InvalidRequest(
                f"{self.display_name} has no model '{request.offer.name}'",
                hint="The LiteLLM models in the preferences changed since the shot was routed; generate again.",
            )
        if not (model.local or self.allow_cloud):
            raise InvalidRequest(
                f"model '{model.name}' on {self.display_name} is a cloud model and cloud use is off",
                hint="Allow cloud generation for this project and Blender's online access, or route the shot"
                " to a local backend.",
            )
        if model.media != request.spec.media:
            raise InvalidRequest(f"model '{model.name}' makes {model.media.value}, not {request.spec.media.value}")
        _raise_if_cancelled(cancel, "before it was sent to LiteLLM")
        with ServerJob(f"LiteLLM at {self.base_url}", self.video_timeout) as job:
            if model.media == MediaKind.IMAGE:
                return self._run_image(model, request, report, cancel)
            return self._run_video(model, request, report, cancel, job)

    def _parameters(self, model: CloudModel, spec: ShotSpec, **values: Any) -> dict[str, Any]:
        ignored = [name for name, used in (("negative_prompt", spec.negative_prompt), ("seed", spec.seed)) if used]
        return {
            **values,
            **model.extra,
            "server_url": self.base_url,
            "backend_instance": self.instance_id,
            "cloud": not model.local,
            **({"ignored": ignored} if ignored else {}),
        }

    def _run_image(
        self, model: CloudModel, request: GenerationRequest, report: ProgressCallback, cancel: threading.Event
    ) -> GenerationResult:
        spec = request.spec
        size = choose_size(spec.width, spec.height, model.sizes)
        report(_progress(0.05, f"sent to LiteLLM model {model.name}"))
        headers: dict[str, str] = {}
        try:
            images = self.client.generate_images(
                model.name, spec.prompt, size=size, n=1, extra=model.extra, headers_out=headers
            )
        except BackendBusy as exc:
            # The proxy's router is asked not to retry, but its provider client (OpenAI's SDK) still
            # retries an image request twice, honouring the provider's wait (measured: 3 provider calls
            # per request on 1.106.2). Asking again would multiply that; a limit of the proxy's own
            # called no provider, so it may be asked again once it says it is ready.
            if not isinstance(exc, ProxyLimited):
                exc.retry_here = False
            raise
        _raise_if_cancelled(cancel, "while the image was generated")
        image = images[0]
        report(_progress(0.85, "saving the image"))
        stem = sanitize_filename(request.file_stem, fallback="take")
        os.makedirs(request.output_dir, exist_ok=True)
        destination = unique_path(request.output_dir, stem + _image_extension(image))
        check = verifier(MediaKind.IMAGE, source=f"LiteLLM at {self.base_url}", what=f"the image of '{model.name}'")
        self.client.save_image(image, destination, verify=check)
        report(_progress(1.0, "saved"))
        parameters = self._parameters(model, spec, size=size, prompt=spec.prompt)
        if image.revised_prompt and image.revised_prompt != spec.prompt:
            parameters["revised_prompt"] = image.revised_prompt
        return GenerationResult(
            files=(destination,), model=model.name, parameters=parameters, cost=reported_cost(headers)
        )

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
        report(_progress(0.02, f"sending to LiteLLM model {model.name}"))

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
            stated = _stated_seconds(exc.message) if not model.seconds else ()
            if not stated:
                raise
            seconds = choose_seconds(spec.duration_seconds, stated)
            report(_progress(0.03, f"{model.name} makes {'/'.join(map(str, stated))} s videos: asking for {seconds} s"))
            job = create(seconds)
        video_id = job.id  # LiteLLM's encoded id: it routes later calls to the same deployment
        announce_server_job(report, video_id)
        job_guard.started(lambda: self.client.delete_video(video_id))
        cost = reported_cost(headers)
        return self._follow_video(model, request, video_id, job, report, cancel, cost, seconds, job_guard)

    can_resume = True

    def resume(
        self, request: GenerationRequest, server_job_id: str, report: ProgressCallback, cancel: threading.Event
    ) -> GenerationResult:
        """Follow a video the provider already has (GET /v1/videos/{id}) and download it: a finished
        video is fetched again, never made again. Images are one call and cannot be followed."""
        model = self.models.get(request.offer.name)
        if model is None or model.media != MediaKind.VIDEO:
            return super().resume(request, server_job_id, report, cancel)
        report(_progress(0.05, f"following video {server_job_id[:24]}... on LiteLLM model {model.name}"))
        try:
            job = self.client.video_status(server_job_id, model=model.name)
        except (InvalidRequest, MissingResource) as exc:  # 400/404: the provider does not know the id
            raise JobLost(
                f"LiteLLM at {self.base_url} no longer knows video {server_job_id[:24]}...: {exc.message}",
                hint="The provider dropped or expired it; generate the shot again.",
            ) from None
        seconds = choose_seconds(request.spec.duration_seconds, model.seconds)
        # Its cost was counted when it was made (the journal kept it): following it costs nothing.
        with ServerJob(f"LiteLLM at {self.base_url}", self.video_timeout) as job_guard:
            job_guard.started(lambda: self.client.delete_video(server_job_id))
            return self._follow_video(model, request, server_job_id, job, report, cancel, 0.0, seconds, job_guard)

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
        job = self._wait_for_video(model, video_id, job, report, cancel, job_guard)
        job_guard.finished()
        announce_server_job(report, video_id, stage="finished")
        report(_progress(0.92, "downloading the video"))
        stem = sanitize_filename(request.file_stem, fallback="take")
        os.makedirs(request.output_dir, exist_ok=True)
        destination = unique_path(request.output_dir, stem + ".mp4")
        check = verifier(MediaKind.VIDEO, source=f"LiteLLM at {self.base_url}", what=f"the video of '{model.name}'")
        self.client.download_video(video_id, destination, model=model.name, verify=check)
        if cancel.is_set():
            with contextlib.suppress(OSError):
                os.unlink(destination)
            raise Cancelled("the job was cancelled while its video was downloading")
        report(_progress(1.0, "downloaded"))
        parameters = self._parameters(
            model,
            spec,
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
    ) -> VideoJob:
        failures = 0
        while not job.done:
            report(
                _progress(
                    0.05 + 0.85 * min(100.0, max(0.0, job.progress)) / 100,
                    f"{job.status.replace('_', ' ')} on {model.name} ({job.progress:.0f}%)",
                )
            )
            if cancel.wait(self.poll_interval):
                self._forget_video(video_id)
                raise Cancelled(f"the job was cancelled (video {video_id[:24]}...)")
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


def from_instance_config(config: Any, settings: Any) -> LiteLLMBackend:
    """The factory for session.BACKEND_FACTORIES["litellm"]: (InstanceConfig, BackendSettings) -> backend.

    Reads `config.options`: "api_key" (str), "models" (a list of CloudModel dicts), optional
    "timeout", "poll_interval". Cloud models are offered only when Blender's online access is on;
    an instance configured `is_local=True` (a proxy in front of models on this machine, such as
    Ollama or a local Whisper) has every model treated as local.
    """
    options = dict(getattr(config, "options", None) or {})
    declared_local = getattr(config, "is_local", None) is True
    models = [
        model.model_copy(update={"local": True}) if declared_local else model
        for model in cloud_models(options.get("models") or ())
    ]
    return LiteLLMBackend(
        str(getattr(config, "name", "") or "litellm"),
        str(getattr(config, "url", "") or DEFAULT_URL),
        str(options.get("api_key") or ""),
        models,
        allow_cloud=bool(getattr(settings, "online_access", False)),
        max_concurrent=max(1, int(getattr(config, "slots", 2) or 2)),
        timeout=float(options.get("timeout") or 120.0),
        poll_interval=float(options.get("poll_interval") or 2.0),
        policy=TransportPolicy.from_options(options, online_access=bool(getattr(settings, "online_access", False))),
    )


def reported_cost(headers: dict[str, str]) -> float | None:
    """The proxy's `x-litellm-response-cost` for one call, None when it sent none (or nonsense)."""
    raw = headers.get("x-litellm-response-cost")
    try:
        cost = float(raw) if raw is not None else None
    except ValueError:
        return None
    return cost if cost is not None and math.isfinite(cost) and cost >= 0 else None


def _stated_seconds(message: str) -> tuple[int, ...]:
    """The lengths a provider's refusal lists ("Supported values are: '4', '8', '12'"), if it does."""
    match = re.search(r"[Ss]upported values are:?\s*(.+)", message)
    if not match:
        return ()
    return tuple(sorted({int(value) for value in re.findall(r"'(\d+)'", match.group(1))}))


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


def _image_extension(image: GeneratedImage) -> str:
    data = image.data or b""
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if image.url:
        ext = os.path.splitext(image.url.split("?", 1)[0])[1].lower()
        if ext in (".png", ".jpg", ".jpeg", ".webp"):
            return ext
    return ".png"


def _whole(text: str, default: int) -> int:
    """A provider's "8" as 8; anything else (empty, "1e999", "eight") as what was asked for."""
    return int(text) if text.strip().isdigit() and len(text.strip()) < 6 else default


def _progress(fraction: float, message: str) -> Progress:
    return Progress(fraction, message)


def _raise_if_cancelled(cancel: threading.Event, when: str) -> None:
    if cancel.is_set():
        raise Cancelled(f"the job was cancelled {when}")
