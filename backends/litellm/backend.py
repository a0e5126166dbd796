"""The LiteLLM backend: cloud image and video models behind one LiteLLM proxy, as routes for shots.

An image shot is one `POST /v1/images/generations`; a video shot is `POST /v1/videos`, then
followed to its end and downloaded (video_jobs.py). Which models it may use for which media, and
how a shot is fitted to one, is cloud_model.py's; patterns among them allow any model group the
proxy lists under a matching name (discovery.py), so a model added to the proxy needs no new settings.

The models are cloud models unless configured `local=True` (a model served on this machine behind
the proxy). Cloud offers exist only when the instance is built with `allow_cloud=True`, which the
caller sets from the project's cloud setting and Blender's online access.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ...shots import MediaKind
from ..base import (
    Backend,
    BackendBusy,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    JobLost,
    MissingResource,
    Offer,
    Progress,
    ProgressCallback,
    raise_if_cancelled,
)
from ..files import sanitize_filename, unique_path
from ..media_check import verifier
from ..policy import DEFAULT_POLICY, TransportPolicy
from ..server_job import ServerJob
from ..urls import is_loopback_host
from .client import DEFAULT_URL, GeneratedImage, LiteLLMClient, ModelEntry, Secret
from .cloud_model import CloudModel, choose_seconds, choose_size, cloud_models, take_parameters
from .discovery import ListedModels, is_pattern, match_listed
from .errors import ProxyLimited
from .media import reported_cost
from .video_jobs import VideoJobs


@dataclass(frozen=True)
class LiteLLMProbe:
    url: str
    models: tuple[ModelEntry, ...]
    missing: tuple[str, ...]  # configured media models the proxy does not list for this key


class LiteLLMBackend(VideoJobs, Backend):
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
        here = is_loopback_host(urlsplit(self.base_url).hostname or "")
        return [
            Offer(name=m.name, media=m.media, quality=m.quality, label=m.label_behind(here), model=m.name)
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
        raise_if_cancelled(cancel, "before it was sent to LiteLLM")
        with ServerJob(f"LiteLLM at {self.base_url}", self.video_timeout) as job:
            if model.media == MediaKind.IMAGE:
                return self._run_image(model, request, report, cancel)
            return self._run_video(model, request, report, cancel, job)

    def _run_image(
        self, model: CloudModel, request: GenerationRequest, report: ProgressCallback, cancel: threading.Event
    ) -> GenerationResult:
        spec = request.spec
        size = choose_size(spec.width, spec.height, model.sizes)
        report(Progress(0.05, f"sent to LiteLLM model {model.name}"))
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
        raise_if_cancelled(cancel, "while the image was generated")
        image = images[0]
        report(Progress(0.85, "saving the image"))
        stem = sanitize_filename(request.file_stem, fallback="take")
        os.makedirs(request.output_dir, exist_ok=True)
        destination = unique_path(request.output_dir, stem + _image_extension(image))
        check = verifier(MediaKind.IMAGE, source=f"LiteLLM at {self.base_url}", what=f"the image of '{model.name}'")
        self.client.save_image(image, destination, verify=check)
        report(Progress(1.0, "saved"))
        parameters = take_parameters(model, spec, self.base_url, self.instance_id, size=size, prompt=spec.prompt)
        if image.revised_prompt and image.revised_prompt != spec.prompt:
            parameters["revised_prompt"] = image.revised_prompt
        return GenerationResult(
            files=(destination,), model=model.name, parameters=parameters, cost=reported_cost(headers)
        )

    can_resume = True

    def resume(
        self, request: GenerationRequest, server_job_id: str, report: ProgressCallback, cancel: threading.Event
    ) -> GenerationResult:
        """Follow a video the provider already has (GET /v1/videos/{id}) and download it: a finished
        video is fetched again, never made again. Images are one call and cannot be followed."""
        model = self.models.get(request.offer.name)
        if model is None or model.media != MediaKind.VIDEO:
            return super().resume(request, server_job_id, report, cancel)
        report(Progress(0.05, f"following video {server_job_id[:24]}... on LiteLLM model {model.name}"))
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
