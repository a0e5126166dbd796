"""The Wan2GP backend: one Wan2GP MCP server, its quality tiers, and the life of one job on it.

A job: the model is checked against the server (get_model_schema, cached: an unknown model is a
MissingResource, and the schema's fps and frame limits win over the built-in table), the init
image is uploaded to the server's gallery, `wangp_generate` starts the job (wait false; a server
already generating answers BackendBusy, so the scheduler fails over), `wangp_get_job` is polled and
its events drive the progress bar (progress.py), `wangp_cancel_job` stops it cooperatively (the
cancel returns at once; its `settle` waits for the job to end on the server), a failure is
classified from its errors' stage and console lines (errors.py, weights.py), and the video is
downloaded from the gallery through a one-time link, to a temporary file renamed into place.
Besides the configured tiers, the server's own downloaded video models are offered (discovery.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...shots import MediaKind
from ..base import (
    Backend,
    BackendError,
    BackendUnreachable,
    Cancelled,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    MissingResource,
    Offer,
    ProgressCallback,
    ProtocolError,
    announce_server_job,
)
from ..files import sanitize_filename, unique_path
from ..media_check import verifier
from ..policy import DEFAULT_POLICY, TransportPolicy
from ..server_job import ServerJob
from .client import DEFAULT_URL, JobSnapshot, Wan2GPClient
from .discovery import ServerModels, discover_models
from .errors import IS_IT_WAN2GP, job_error
from .progress import RUN_END, SUBMITTED, JobProgress, MonotonicReporter
from .settings import (
    ModelLimits,
    Wan2GPPreset,
    build_settings,
    choose_presets,
    max_shot_frames,
    resolve_presets,
    wan_model,
)

log = logging.getLogger(__name__)

REQUIRED_TOOLS = (
    "wangp_generate", "wangp_get_job", "wangp_cancel_job", "wangp_get_model_schema",
    "wangp_create_gallery_upload", "wangp_create_gallery_download",
)  # fmt: skip
MAX_EVENT_LIMIT = 500  # the most events a job snapshot holds (the server's own cap)
_SAFE_EXTENSION = re.compile(r"^\.[a-z0-9]{1,8}$")
_VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi")


@dataclass(frozen=True)
class Wan2GPProbe:
    """What the preferences panel and routing want to know: is it there, is it Wan2GP, what can it do."""

    url: str
    server_name: str
    server_version: str
    protocol_version: str
    tools: tuple[str, ...]
    missing_tools: tuple[str, ...]


@dataclass(frozen=True)
class _ModelInfo:
    limits: ModelLimits
    defaults: dict[str, Any]


class Wan2GPBackend(Backend):
    """A Wan2GP server reached through its MCP endpoint. One generation at a time, always."""

    kind = "wan2gp"

    def __init__(
        self,
        instance_id: str,
        base_url: str = DEFAULT_URL,
        *,
        vram_gb: float | None = None,
        presets: Sequence[str | Wan2GPPreset] | None = None,
        timeout: float = 30.0,
        poll_interval: float = 0.5,
        settle_timeout: float = 600.0,
        model_info_ttl: float = 300.0,
        event_limit: int = 50,
        policy: TransportPolicy = DEFAULT_POLICY,
    ) -> None:
        super().__init__(instance_id, max_concurrent=1)  # the server refuses a second generation anyway
        self.client = Wan2GPClient(base_url, timeout, policy=policy)
        self.policy = policy
        self.vram_gb = vram_gb
        self.presets = {p.name: p for p in (resolve_presets(presets) if presets else choose_presets(vram_gb))}
        self.poll_interval = poll_interval
        self.settle_timeout = settle_timeout  # longest wait for a cancelled job to end on the server
        self.model_info_ttl = model_info_ttl
        self.event_limit = event_limit
        self._model_lock = threading.Lock()
        self._model_cache: dict[str, tuple[float, _ModelInfo]] = {}
        self._server_presets: dict[str, Wan2GPPreset] = {}  # offers from the server's own model list

    @property
    def base_url(self) -> str:
        return self.client.endpoint

    # --- what this instance offers ---------------------------------------------------------

    def offers(self) -> list[Offer]:
        with self._model_lock:
            found = list(self._server_presets.values())
        return [_offer(preset) for preset in [*self.presets.values(), *found]]

    def discover(self) -> ServerModels:
        """Ask the server which video models it has (network): its downloaded models beyond the built-in
        tiers become offers (see discovery.py), and built-in tiers it cannot make are returned as missing."""
        found = discover_models(self.client, self.presets.values())
        with self._model_lock:
            self._server_presets = {p.name: p for p in found.presets if p.name not in self.presets}
        return found

    def _preset(self, name: str) -> Wan2GPPreset | None:
        with self._model_lock:
            return self.presets.get(name) or self._server_presets.get(name)

    def probe(self) -> Wan2GPProbe:
        """Handshake and tool list (network): for "test connection" and health checks."""
        info = self.client.initialize()
        tools = tuple(str(t.get("name")) for t in self.client.list_tools())
        return Wan2GPProbe(
            url=self.client.endpoint,
            server_name=info.name,
            server_version=info.version,
            protocol_version=info.protocol_version,
            tools=tools,
            missing_tools=tuple(t for t in REQUIRED_TOOLS if t not in tools),
        )

    def missing_offers(self) -> dict[str, str]:
        """Offers whose model this server does not have (network): {offer name: reason}, for discovery."""
        missing: dict[str, str] = {}
        for preset in self.presets.values():
            for model in preset.models:
                try:
                    self._model_info(model.model_type)
                except MissingResource as exc:
                    missing[preset.name] = exc.message
                    break
        return missing

    def video_models(self) -> list[dict[str, Any]]:
        """Every video model the server knows (compact records, paged), for the preferences panel."""
        return list(self.client.iter_models(main_output="video"))

    # --- one job ---------------------------------------------------------------------------

    def run(self, request: GenerationRequest, report: ProgressCallback, cancel: threading.Event) -> GenerationResult:
        with ServerJob(f"Wan2GP at {self.client.origin}", self.policy.job_seconds) as job:
            return self._run(request, report, cancel, job)

    def _run(
        self, request: GenerationRequest, report: ProgressCallback, cancel: threading.Event, job: ServerJob
    ) -> GenerationResult:
        preset = self._preset(request.offer.name)
        if preset is None:
            raise InvalidRequest(
                f"{self.display_name} has no preset '{request.offer.name}'",
                hint="The backend settings changed since the shot was routed; generate again.",
            )
        spec = request.spec
        progress = MonotonicReporter(report)
        progress.update(0.0, f"checking Wan2GP at {self.client.origin}")
        model = preset.model_for(spec)
        info = self._model_info(model.model_type)
        self._note_availability(model.model_type, progress)
        _raise_if_cancelled(cancel, "before it was sent to Wan2GP")

        image_start = None
        if spec.init_image and info.limits.takes_start_image:
            progress.update(0.02, "uploading the init image to Wan2GP")
            record = self.client.upload(spec.init_image)
            if record.get("media_type") not in (None, "image"):
                raise InvalidRequest(
                    f"Wan2GP took the init image {spec.init_image} as {record.get('media_type')}",
                    hint="Use a PNG, JPEG or WebP image as the shot's init image.",
                )
            image_start = str(record["gallery_id"])
        elif spec.init_image:
            progress.update(0.02, f"{info.limits.name} cannot start from an image: the init image is ignored")
        source, applied = build_settings(spec, preset, info.limits, image_start=image_start)
        _raise_if_cancelled(cancel, "before it was sent to Wan2GP")

        snapshot = self.client.generate(source, event_limit=self.event_limit)
        job_id = snapshot.job_id
        announce_server_job(report, job_id)
        job.started(lambda: self._stop_on_server(job_id))
        log.info("%s: job %s started (%s)", self.display_name, job_id, info.limits.model_type)
        progress.update(SUBMITTED, f"started on Wan2GP ({info.limits.name})")
        return self._follow(snapshot, request, report, progress, cancel, info, source, applied, job)

    can_resume = True

    def resume(
        self, request: GenerationRequest, server_job_id: str, report: ProgressCallback, cancel: threading.Event
    ) -> GenerationResult:
        """Follow a job this server already runs or ran (wangp_get_job), then fetch its video from the gallery.
        Wan2GP keeps jobs in memory only: after its restart the job is JobLost."""
        preset = self.presets.get(request.offer.name)
        if preset is None:
            raise InvalidRequest(f"{self.display_name} has no preset '{request.offer.name}' any more")
        progress = MonotonicReporter(report)
        progress.update(SUBMITTED, f"following job {server_job_id} on Wan2GP at {self.client.origin}")
        info = self._model_info(preset.model_for(request.spec).model_type)
        source, applied = build_settings(request.spec, preset, info.limits)
        with ServerJob(f"Wan2GP at {self.client.origin}", self.policy.job_seconds) as job:
            snapshot = self.client.get_job(server_job_id, event_limit=self.event_limit)
            job.started(lambda: self._stop_on_server(server_job_id))
            return self._follow(snapshot, request, report, progress, cancel, info, source, applied, job)

    def _follow(
        self,
        snapshot: JobSnapshot,
        request: GenerationRequest,
        report: ProgressCallback,
        progress: MonotonicReporter,
        cancel: threading.Event,
        info: _ModelInfo,
        source: dict[str, Any],
        applied: dict[str, Any],
        job: ServerJob,
    ) -> GenerationResult:
        job_id = snapshot.job_id
        tracker = JobProgress(progress)
        tracker.apply(snapshot.events)
        snapshot = self._wait(snapshot, tracker, cancel, job)
        job.finished()
        result = snapshot.result
        if result is None:
            raise ProtocolError(
                f"Wan2GP at {self.client.origin} says job {job_id} is done but sent no result",
                hint="See the Wan2GP console.",
            )
        if not result.get("success"):
            log.info("%s: job %s failed: %s", self.display_name, job_id, result.get("errors"))
            raise job_error(
                result, self.client.origin, job_id, stream=tracker.stream, offers=self._offers_needing_downloads()
            )
        progress.update(RUN_END, "finished on Wan2GP")
        announce_server_job(report, job_id, stage="finished")
        files = self._download_outputs(result, request, job_id, progress, cancel)
        progress.update(1.0, "downloaded")
        effective = {k: v for k, v in info.defaults.items() if k not in ("prompt", "negative_prompt")}
        effective.update({k: v for k, v in source.items() if k not in ("prompt", "negative_prompt")})
        parameters = {
            **applied,
            "wan2gp_settings": effective,
            "server_url": self.client.endpoint,
            "backend_instance": self.instance_id,
        }
        return GenerationResult(files=tuple(files), model=info.limits.name, parameters=parameters, server_job_id=job_id)

    def _wait(
        self, snapshot: JobSnapshot, tracker: JobProgress, cancel: threading.Event, job: ServerJob
    ) -> JobSnapshot:
        """Poll until the job is done; on cancel, ask the server to stop it and raise Cancelled; past
        the job deadline, the same and JobTimedOut."""
        failures = 0
        while not snapshot.done:
            if cancel.wait(self.poll_interval):
                self._cancel_on_server(snapshot.job_id)
            job.check()
            try:
                snapshot = self.client.get_job(snapshot.job_id, event_limit=self.event_limit)
                if tracker.gap(snapshot.events):
                    # Console lines flooded the window since the last poll: read the events missed.
                    snapshot = self.client.get_job(snapshot.job_id, event_limit=MAX_EVENT_LIMIT)
            except BackendUnreachable:
                failures += 1  # a hiccup is forgiven; a server that stays away is not
                if failures >= 4:
                    raise
                continue
            failures = 0
            tracker.apply(snapshot.events)
        return snapshot

    def _stop_on_server(self, job_id: str) -> None:
        """Ask Wan2GP to stop a job the run is leaving early (the scheduler hears the run's own error)."""
        self.client.cancel_job(job_id, event_limit=0)

    def _cancel_on_server(self, job_id: str) -> None:
        """Ask Wan2GP to stop the job and raise Cancelled at once.

        Wan2GP stops cooperatively, between steps; loading a model or fetching weights runs on for
        a while. The shot is cancelled for the user now; the scheduler keeps the server's slot until
        `settle` has seen the job end, so the next shot is not refused as busy."""
        done = True
        try:
            done = self.client.cancel_job(job_id, event_limit=0).done
        except BackendError as exc:
            log.warning("%s: could not cancel job %s on the server: %s", self.display_name, job_id, exc)
        raise Cancelled(
            f"the job was cancelled (Wan2GP job {job_id} stops at its next step)",
            settle=None if done else (lambda stop: self._settle(job_id, stop)),
        )

    def _settle(self, job_id: str, stop: threading.Event) -> None:
        """Wait until a cancelled job is done on the server: until then the server is busy with it."""
        deadline = time.monotonic() + self.settle_timeout
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if self.client.get_job(job_id, event_limit=0).done:
                    return
            except BackendError as exc:  # gone or restarted: the next job finds out and says so
                log.info("%s: stopped waiting for job %s to end: %s", self.display_name, job_id, exc)
                return
            stop.wait(self.poll_interval)
        if not stop.is_set():  # Shotcaller closing is no reason to warn
            log.warning(
                "%s: job %s still running %.0f s after it was cancelled", self.display_name, job_id, self.settle_timeout
            )

    def _offers_needing_downloads(self) -> tuple[str, ...]:
        """The offers whose models this server has not downloaded: a server that cannot download cannot
        make them either. Every offer when the server does not say."""
        names = []
        with self._model_lock:
            presets = [*self.presets.values(), *self._server_presets.values()]
        for preset in presets:
            try:
                available = all(
                    self.client.get_model_availability(m.model_type).get("available") is True for m in preset.models
                )
            except BackendError:
                available = False
            if not available:
                names.append(preset.name)
        return tuple(names)

    def _model_info(self, model_type: str) -> _ModelInfo:
        with self._model_lock:
            cached = self._model_cache.get(model_type)
            if cached is not None and time.monotonic() - cached[0] < self.model_info_ttl:
                return cached[1]
        metadata = self.client.get_model_schema(model_type)
        if metadata is None:
            raise MissingResource(
                f"Wan2GP at {self.client.origin} does not have the model {model_type} ({wan_model(model_type).name})",
                hint="Update Wan2GP to a version with this model, or use another backend.",
            )
        main_output = metadata.get("main_output")
        if isinstance(main_output, list) and "video" not in main_output:
            raise ProtocolError(
                f"Wan2GP at {self.client.origin} says {model_type} does not make videos", hint=IS_IT_WAN2GP
            )
        defaults = self.client.get_default_settings(model_type)
        info = _ModelInfo(ModelLimits.from_schema(wan_model(model_type), metadata), defaults)
        with self._model_lock:
            self._model_cache[model_type] = (time.monotonic(), info)
        return info

    def _note_availability(self, model_type: str, progress: MonotonicReporter) -> None:
        """Weights not on the server yet: Wan2GP downloads them first, which can take long. Say so."""
        try:
            availability = self.client.get_model_availability(model_type)
        except BackendError as exc:  # informative only
            log.info("%s: no availability for %s: %s", self.display_name, model_type, exc)
            return
        if availability.get("available") is False:
            progress.update(0.01, f"Wan2GP has not downloaded {model_type} yet: it fetches the weights first")

    def _download_outputs(
        self,
        result: dict[str, Any],
        request: GenerationRequest,
        job_id: str,
        progress: MonotonicReporter,
        cancel: threading.Event,
    ) -> list[str]:
        items = self._output_items(result)
        if not items:
            raise ProtocolError(
                f"Wan2GP at {self.client.origin} finished job {job_id} without a video", hint="See the Wan2GP console."
            )
        stem = sanitize_filename(request.file_stem, fallback="take")
        written: list[str] = []
        for index, item in enumerate(items):
            if cancel.is_set():
                for path in written:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                raise Cancelled("the job was cancelled while its files were downloading")
            suffix = f"_{index + 1:02d}" if len(items) > 1 else ""
            name = f"{stem}{suffix}{_safe_extension(str(item.get('path') or ''))}"
            destination = unique_path(request.output_dir, name)
            progress.update(RUN_END + (1.0 - RUN_END) * index / len(items), f"downloading {name}")
            source, what = f"Wan2GP at {self.client.origin}", f"the video of job {job_id}"
            self.client.download(
                str(item["gallery_id"]), destination, verify=verifier(MediaKind.VIDEO, source=source, what=what)
            )
            written.append(destination)
        return written

    def _output_items(self, result: dict[str, Any]) -> list[dict[str, Any]]:
        """Gallery records of the job's videos: from the result, else found by path in the gallery."""
        items = [i for i in result.get("gallery_items") or [] if isinstance(i, dict) and i.get("gallery_id")]
        videos = [i for i in items if i.get("media_type") == "video"]
        if videos:
            return videos
        files = [str(f) for f in result.get("generated_files") or [] if isinstance(f, str)]
        if not files:
            return [i for i in items if i.get("gallery") == "visual"]
        by_path = {str(i.get("path")): i for i in self.client.list_gallery("video") if i.get("gallery_id")}
        found = [by_path[f] for f in files if f in by_path]
        if not found:
            raise ProtocolError(
                f"Wan2GP at {self.client.origin} made {', '.join(os.path.basename(f) for f in files)} but its"
                " gallery does not list it, so Shotcaller cannot download it",
                hint="Update Wan2GP; the file is in its output folder on that machine.",
            )
        return found


def _offer(preset: Wan2GPPreset) -> Offer:
    text_model = wan_model(preset.text_model)
    image_model = wan_model(preset.image_model) if preset.image_model else None
    model = text_model.name if image_model in (None, text_model) else f"{text_model.name} / {image_model.name}"
    base = max(m.vram_base_gb for m in preset.models)
    return Offer(
        name=preset.name,
        media=preset.media,
        quality=preset.quality,
        label=preset.label,
        model=model,
        vram_gb=base,
        vram_base_gb=base,
        vram_per_megapixel_frame_gb=max(m.vram_per_megapixel_frame_gb for m in preset.models),
        needs_init_image=False,  # every tier also makes videos from text alone
        max_frames=max_shot_frames(preset),
        family=preset.name,
        sliding_window=all(m.sliding_window for m in preset.models),
    )


def _safe_extension(server_path: str) -> str:
    """The server's extension, only if it is plainly a video extension; the server's name is never used."""
    extension = os.path.splitext(sanitize_filename(server_path.replace("\\", "/")))[1].lower()
    return extension if _SAFE_EXTENSION.match(extension) and extension in _VIDEO_EXTENSIONS else ".mp4"


def _raise_if_cancelled(cancel: threading.Event, when: str) -> None:
    if cancel.is_set():
        raise Cancelled(f"the job was cancelled {when}")
