"""The Wan2GP backend: one Wan2GP MCP server, its quality tiers, and the life of one job on it.

A job: the model is checked against the server (model_checks.py: get_model_schema, cached; an
unknown model is a MissingResource, and the schema's fps and frame limits win over the built-in
table), the init image is uploaded to the server's gallery, `wangp_generate` starts the job (wait
false; a server already generating answers BackendBusy, so the scheduler fails over), the job is
followed and cancelled through `wangp_get_job` and `wangp_cancel_job` (following.py), a failure is
classified from its errors' stage and console lines (errors.py, weights.py), and the video is
downloaded from the gallery (outputs.py). Besides the configured tiers, the server's own
downloaded video models are offered (discovery.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    Offer,
    ProgressCallback,
    ProtocolError,
    announce_server_job,
    raise_if_cancelled,
)
from ..forward_progress import MonotonicReporter
from ..policy import DEFAULT_POLICY, TransportPolicy
from ..server_job import ServerJob
from .client import DEFAULT_URL, JobSnapshot, Wan2GPClient
from .discovery import ServerModels, discover_models
from .errors import job_error
from .following import JobFollowing
from .model_checks import ModelChecks, ModelInfo
from .models import wan_model
from .outputs import download_outputs
from .presets import Wan2GPPreset, choose_presets, max_shot_frames, resolve_presets
from .progress import RUN_END, SUBMITTED, JobProgress
from .settings import build_settings

log = logging.getLogger(__name__)

REQUIRED_TOOLS = (
    "wangp_generate", "wangp_get_job", "wangp_cancel_job", "wangp_get_model_schema",
    "wangp_create_gallery_upload", "wangp_create_gallery_download",
)  # fmt: skip


@dataclass(frozen=True)
class Wan2GPProbe:
    """What the preferences panel and routing want to know: is it there, is it Wan2GP, what can it do."""

    url: str
    server_name: str
    server_version: str
    protocol_version: str
    tools: tuple[str, ...]
    missing_tools: tuple[str, ...]


class Wan2GPBackend(JobFollowing, ModelChecks, Backend):
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
        self._model_cache: dict[str, tuple[float, ModelInfo]] = {}
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
        raise_if_cancelled(cancel, "before it was sent to Wan2GP")

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
        raise_if_cancelled(cancel, "before it was sent to Wan2GP")

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
        info: ModelInfo,
        source: dict[str, Any],
        applied: dict[str, Any],
        job: ServerJob,
    ) -> GenerationResult:
        job_id = snapshot.job_id
        tracker = JobProgress(progress)
        tracker.apply(snapshot.events)
        snapshot = self._wait(snapshot, tracker, cancel, job, request.spec)
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
        files = download_outputs(self.client, result, request, job_id, progress, cancel)
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
