"""The ComfyUI backend: one server, its templates, and the life of one job on it.

A job is checked against its template's ranges (no network), then against the server
before it is sent (node types, model files and the other choices the workflow makes,
from a short-lived /object_info cache: preflight.py), followed over the websocket with
/history polling whenever the socket is down, and cancelled through the queue or /interrupt
(following.py: a cancel returns at once; its `settle` waits until the interrupted prompt has
left the server's queue, as real ComfyUI finishes the node it is in first). Its outputs are
taken from /history, the source of truth (outputs.py).

Live previews: binary previews (type 1, or type 4 after announcing feature flags) become
`Progress.preview_image` with their format, PNG or JPEG (real ComfyUI encodes sampler
previews as JPEG); the main thread hands the bytes to Blender, which decodes either.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from typing import Any

from ...shots import MediaKind
from ..base import (
    Backend,
    Cancelled,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    JobLost,
    Offer,
    ProgressCallback,
    announce_server_job,
    raise_if_cancelled,
    shot_cancelled,
)
from ..files import sanitize_filename
from ..forward_progress import MonotonicReporter
from ..policy import DEFAULT_POLICY, TransportPolicy
from ..server_job import ServerJob
from .client import ComfyUIClient
from .following import PromptFollowing
from .outputs import download_outputs, media_for_file, output_texts, run_seconds_of
from .preflight import PreflightChecks, combo_options
from .progress import RUN_START, NodeProgress, expected_weights
from .server_probe import ServerProbe, probe_server
from .templates import BUNDLED_TEMPLATE_DIR, ParameterOutOfRange, TemplateError, load_templates
from .workflow import ComfyTemplate

__all__ = ["DEFAULT_URL", "UPLOAD_SUBFOLDER", "ComfyUIBackend", "combo_options"]

DEFAULT_URL = "http://127.0.0.1:8188"
UPLOAD_SUBFOLDER = "shotcaller"


class ComfyUIBackend(PromptFollowing, PreflightChecks, Backend):
    kind = "comfyui"

    def __init__(
        self,
        instance_id: str,
        base_url: str = DEFAULT_URL,
        template_dirs: Sequence[str] | None = None,
        *,
        max_concurrent: int = 1,
        timeout: float = 30.0,
        object_info_ttl: float = 30.0,
        poll_interval: float = 1.0,
        history_grace: float = 10.0,
        settle_timeout: float = 600.0,
        policy: TransportPolicy = DEFAULT_POLICY,
    ) -> None:
        super().__init__(instance_id, max_concurrent=max_concurrent)
        self.base_url = base_url.rstrip("/")
        self.client = ComfyUIClient(self.base_url, timeout, policy=policy)
        self.policy = policy
        self.object_info_ttl = object_info_ttl
        self.poll_interval = poll_interval
        self.history_grace = history_grace
        self.settle_timeout = settle_timeout  # longest wait for an interrupted prompt to leave the queue
        # A broken user template is reported here (for the preferences panel) and skipped,
        # so it does not take the bundled ones down with it.
        self.template_errors: list[TemplateError] = []
        dirs = [BUNDLED_TEMPLATE_DIR] if template_dirs is None else list(template_dirs)
        loaded = load_templates(dirs, on_error=self.template_errors.append)
        # Templates that start from an init image first: with equal scores the router keeps this
        # order, so a shot with an init image uses it; shots without one are filtered off them.
        self.templates = {t.name: t for t in sorted(loaded, key=lambda t: not t.needs_init_image)}
        self._object_info_lock = threading.Lock()
        self._object_info_cache: tuple[float, dict[str, Any]] | None = None

    # --- what this instance offers ---------------------------------------------------------

    def offers(self) -> list[Offer]:
        continuations: dict[str, str] = {}  # family -> its image to video template: what continues a long shot
        for t in self.templates.values():
            if t.family and t.needs_init_image and t.media is MediaKind.VIDEO:
                continuations.setdefault(t.family, t.name)
        return [
            Offer(
                name=t.name,
                media=t.media,
                quality=t.quality,
                label=t.label,
                model=t.model,
                vram_gb=t.vram.base_gb,
                vram_base_gb=t.vram.base_gb,
                vram_per_megapixel_frame_gb=t.vram.per_megapixel_frame_gb,
                needs_init_image=t.needs_init_image,
                max_frames=t.max_frames,
                frames_minimum=t.frame_lattice[0],
                frames_step=t.frame_lattice[1],
                family=t.family,
                continue_with=continuations.get(t.family, "") if t.family and t.max_frames else "",
                max_seconds=t.max_seconds,
            )
            for t in self.templates.values()
        ]

    @property
    def template_problems(self) -> list[str]:
        """One readable sentence per broken template (file and problem), for the preferences panel."""
        return [str(error) for error in self.template_errors]

    def probe(self) -> ServerProbe:
        """/system_stats (version, device, memory) and /queue (load). Raises if the server is not there."""
        return probe_server(self.client, self.base_url)

    # --- one job ---------------------------------------------------------------------------

    def run(self, request: GenerationRequest, report: ProgressCallback, cancel: threading.Event) -> GenerationResult:
        with ServerJob(f"ComfyUI at {self.base_url}", self.policy.job_seconds) as job:
            return self._run(request, report, cancel, job)

    def _run(
        self, request: GenerationRequest, report: ProgressCallback, cancel: threading.Event, job: ServerJob
    ) -> GenerationResult:
        template = self.templates.get(request.offer.name)
        if template is None:
            raise InvalidRequest(
                f"{self.display_name} has no template '{request.offer.name}'",
                hint="The template folder changed since the shot was routed; generate again.",
            )
        spec = request.spec
        if template.needs_init_image and not spec.init_image:
            raise InvalidRequest(
                f"template '{template.label}' starts from an image and {spec.describe()} has none",
                hint="Set an init image on the shot, or pick a text-to-video template.",
            )
        try:
            template.shot_values(spec)
        except ParameterOutOfRange as exc:
            raise InvalidRequest(
                str(exc),
                hint="Shorten the shot or split it into several shots, or choose a template that makes longer takes.",
            ) from None
        progress = MonotonicReporter(report)
        progress.update(0.0, f"checking ComfyUI at {self.base_url}")
        self.preflight(template)
        raise_if_cancelled(cancel, "before it was sent to ComfyUI")

        init_image = None
        if template.needs_init_image and spec.init_image:
            progress.update(RUN_START / 4, "uploading the init image")
            # The server may rename it ("name (1).png"): only the name it answers is used.
            init_image = self.client.upload_image(spec.init_image, UPLOAD_SUBFOLDER)
            raise_if_cancelled(cancel, "before it was sent to ComfyUI")
        file_prefix = f"shotcaller/{sanitize_filename(request.file_stem, fallback='shot')}"
        try:
            prompt, applied = template.build_prompt(
                spec, file_prefix, init_image=init_image, last_frame=request.last_frame
            )
        except ValueError as exc:
            raise InvalidRequest(f"template '{template.label}': {exc}") from None

        client_id = uuid.uuid4().hex
        stream = self._open_stream(client_id)  # before submitting, so no early event is missed
        # The prompt id is ours: announced before it is sent, so a crash between sending and the
        # server's answer still leaves an id the journal can ask the server about.
        wanted_id = str(uuid.uuid4())
        announce_server_job(report, wanted_id, stage="sending")
        try:
            prompt_id = self.client.submit(prompt, client_id, wanted_id, extra_data=self._extra_data())
            announce_server_job(report, prompt_id)  # an old server may have chosen its own
            job.started(lambda: self._cancel_on_server(prompt_id))
            progress.update(RUN_START / 2, "queued on ComfyUI")
            tracker = NodeProgress(template.node_classes, expected_weights(prompt))
            entry = self._wait_for_completion(
                prompt_id, client_id, stream, tracker, progress, cancel, template, job, spec
            )
        finally:
            if stream is not None:
                stream.close()
        if entry is None:
            entry = self._finished_history(prompt_id, template)
        job.finished()
        announce_server_job(report, prompt_id, stage="finished")
        return self._fetch(entry, prompt_id, request, template, progress, cancel, applied)

    def _extra_data(self) -> dict[str, str]:
        """What goes beside the prompt: the comfy.org key, where ComfyUI hands it to its API nodes
        (their hidden input api_key_comfy_org; ComfyUI keeps it out of its queue and history)."""
        key = self.client.policy.credentials.comfy_api_key
        return {"api_key_comfy_org": key} if key else {}

    can_resume = True

    def resume(
        self, request: GenerationRequest, server_job_id: str, report: ProgressCallback, cancel: threading.Event
    ) -> GenerationResult:
        """Follow a prompt this server already has (queued, running or finished) by polling /history,
        then download its outputs. A prompt it has never heard of, or forgot, is JobLost."""
        template = self.templates.get(request.offer.name)
        if template is None:
            raise InvalidRequest(f"{self.display_name} has no template '{request.offer.name}' any more")
        progress = MonotonicReporter(report)
        progress.update(RUN_START / 2, f"following prompt {server_job_id[:8]} on ComfyUI at {self.base_url}")
        while True:
            if cancel.is_set():
                self._cancel_on_server(server_job_id)
                raise shot_cancelled(request.spec, f"ComfyUI at {self.base_url}", server_job_id)
            try:
                entry = self._poll(server_job_id, template)
            except Cancelled:
                raise JobLost(
                    f"ComfyUI at {self.base_url} no longer has the prompt {server_job_id}",
                    hint="It was restarted or its queue and history were cleared; generate the shot again.",
                ) from None
            if entry is not None:
                break
            cancel.wait(self.poll_interval)
        # The parameters it ran with, as the take records them (the init image's server name is not known now).
        placeholder = "(uploaded before the restart)" if template.needs_init_image else None
        _, applied = template.build_prompt(request.spec, "shotcaller/resumed", init_image=placeholder)
        announce_server_job(report, server_job_id, stage="finished")
        return self._fetch(entry, server_job_id, request, template, progress, cancel, applied)

    def _fetch(
        self,
        entry: dict[str, Any],
        prompt_id: str,
        request: GenerationRequest,
        template: ComfyTemplate,
        progress: MonotonicReporter,
        cancel: threading.Event,
        applied: dict[str, Any],
    ) -> GenerationResult:
        files = download_outputs(self.client, self.base_url, entry, request, template, progress, cancel)
        progress.update(1.0, "downloaded")
        last_frame = ""
        if request.last_frame:  # the PNG of the added save node: not part of the take
            stills = [f for f in files if media_for_file(f) is MediaKind.IMAGE]
            files = [f for f in files if f not in stills]
            last_frame = stills[-1] if stills else ""
        parameters = {**applied, "server_url": self.base_url, "backend_instance": self.instance_id}
        texts = output_texts(entry)
        if texts:
            parameters["text_outputs"] = texts
        return GenerationResult(
            files=tuple(files),
            model=template.model,
            parameters=parameters,
            server_job_id=prompt_id,
            last_frame=last_frame,
            run_seconds=run_seconds_of(entry),
        )
