"""The ComfyUI backend: one server, its templates, and the life of one job on it.

A job is checked against its template's ranges (no network), then against the server
before it is sent (node types, model files and the other choices the workflow makes,
from a short-lived /object_info cache: preflight.py), followed over the websocket
(events.py) with /history polling whenever the socket is down, cancelled through the
queue or /interrupt (a cancel returns at once; its `settle` waits until the interrupted prompt has
left the server's queue, as real ComfyUI finishes the node it is in first), and its outputs are
taken from /history, the source of truth (outputs.py).

Live previews: binary previews (type 1, or type 4 after announcing feature flags) become
`Progress.preview_image` with their format, PNG or JPEG (real ComfyUI encodes sampler
previews as JPEG); the main thread hands the bytes to Blender, which decodes either.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...shots import MediaKind
from ..base import (
    Backend,
    BackendError,
    Cancelled,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    JobLost,
    Offer,
    ProgressCallback,
    ProtocolError,
    announce_server_job,
)
from ..files import sanitize_filename
from ..numbers import whole
from ..policy import DEFAULT_POLICY, TransportPolicy
from ..server_job import ServerJob
from .client import ComfyEventStream, ComfyUIClient, EventStreamClosed
from .errors import error_from_history
from .events import apply_event
from .outputs import download_outputs, media_for_file, output_texts
from .preflight import PreflightChecks, combo_options
from .progress import RUN_START, MonotonicReporter, NodeProgress, expected_weights
from .templates import BUNDLED_TEMPLATE_DIR, ParameterOutOfRange, TemplateError, load_templates
from .workflow import ComfyTemplate

__all__ = ["DEFAULT_URL", "UPLOAD_SUBFOLDER", "ComfyUIBackend", "ServerProbe", "combo_options"]

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8188"
UPLOAD_SUBFOLDER = "shotcaller"


@dataclass(frozen=True)
class ServerProbe:
    """What routing needs to know about a server: is it there, how much memory, how busy.

    Memory is in bytes, of the primary device (the first one /system_stats lists; on a
    `--cpu` server that is system RAM). `queue_running` and `queue_pending` count prompts
    of every client, from /queue.
    """

    url: str
    version: str
    device_name: str
    device_type: str
    vram_total: int
    vram_free: int
    ram_total: int
    ram_free: int
    queue_running: int = 0
    queue_pending: int = 0

    @property
    def queue_length(self) -> int:
        return self.queue_running + self.queue_pending


class ComfyUIBackend(PreflightChecks, Backend):
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
        stats = self.client.system_stats()
        system = stats.get("system") if isinstance(stats.get("system"), dict) else {}
        devices = stats.get("devices") if isinstance(stats.get("devices"), list) else []
        primary = devices[0] if devices and isinstance(devices[0], dict) else {}
        queue = self.client.queue()
        return ServerProbe(
            url=self.base_url,
            version=str((system or {}).get("comfyui_version", "")),
            device_name=str(primary.get("name", "")),
            device_type=str(primary.get("type", "")),
            vram_total=_bytes(primary.get("vram_total")),
            vram_free=_bytes(primary.get("vram_free")),
            ram_total=_bytes((system or {}).get("ram_total")),
            ram_free=_bytes((system or {}).get("ram_free")),
            queue_running=_count(queue.get("queue_running")),
            queue_pending=_count(queue.get("queue_pending")),
        )

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
        _raise_if_cancelled(cancel, "before it was sent to ComfyUI")

        init_image = None
        if template.needs_init_image and spec.init_image:
            progress.update(RUN_START / 4, "uploading the init image")
            # The server may rename it ("name (1).png"): only the name it answers is used.
            init_image = self.client.upload_image(spec.init_image, UPLOAD_SUBFOLDER)
            _raise_if_cancelled(cancel, "before it was sent to ComfyUI")
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
            entry = self._wait_for_completion(prompt_id, client_id, stream, tracker, progress, cancel, template, job)
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
                raise Cancelled(f"the job was cancelled (ComfyUI prompt {server_job_id})")
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

    def _open_stream(self, client_id: str, connect_timeout: float = 10.0) -> ComfyEventStream | None:
        try:
            return self.client.events(client_id, connect_timeout=min(self.client.timeout, connect_timeout))
        except BackendError as exc:
            # Without events the job still runs; /history polling follows it. A dead server
            # shows up at submission with a clearer error than a websocket one.
            log.info("%s: no event stream (%s); polling /history instead", self.display_name, exc)
            return None

    def _wait_for_completion(
        self,
        prompt_id: str,
        client_id: str,
        stream: ComfyEventStream | None,
        tracker: NodeProgress,
        progress: MonotonicReporter,
        cancel: threading.Event,
        template: ComfyTemplate,
        job: ServerJob,
    ) -> dict[str, Any] | None:
        """Block until the prompt finished (or its job deadline passed). Returns its history entry if
        polling saw it first."""
        # Even with a live socket, /history is read now and then: a completion that happened
        # while the socket was reconnecting would otherwise never be noticed.
        slow_poll = max(5.0, 5 * self.poll_interval)
        next_poll = time.monotonic() + (slow_poll if stream else 0.0)
        next_reconnect = time.monotonic() + self.poll_interval
        try:
            while True:
                if cancel.is_set():
                    running = self._cancel_on_server(prompt_id)
                    raise Cancelled(
                        f"the job was cancelled (ComfyUI prompt {prompt_id})",
                        settle=(lambda stop: self._settle(prompt_id, stop)) if running else None,
                    )
                job.check()
                if stream is not None:
                    try:
                        event = stream.receive(timeout=0.2)
                    except EventStreamClosed as exc:
                        log.info("%s: %s; polling /history", self.display_name, exc)
                        stream, next_poll = None, 0.0
                        next_reconnect = time.monotonic() + self.poll_interval
                    else:
                        if event is not None and apply_event(
                            event, prompt_id, tracker, progress, self.base_url, template.required_models
                        ):
                            return None
                else:
                    cancel.wait(min(0.2, self.poll_interval))
                    if time.monotonic() >= next_reconnect:
                        stream = self._open_stream(client_id, connect_timeout=2.0)  # keeps cancel prompt
                        next_reconnect = time.monotonic() + max(2.0, 2 * self.poll_interval)
                if time.monotonic() >= next_poll:
                    entry = self._poll(prompt_id, template)
                    if entry is not None:
                        return entry
                    next_poll = time.monotonic() + (slow_poll if stream else self.poll_interval)
        finally:
            if stream is not None:
                stream.close()

    def _poll(
        self, prompt_id: str, template: ComfyTemplate | None = None, *, check_vanished: bool = True
    ) -> dict[str, Any] | None:
        """The finished history entry, None while queued or running; raises if it failed or vanished."""
        entry = self.client.history(prompt_id)
        if entry is None:
            if not check_vanished:
                return None
            if prompt_id in _queued_ids(self.client.queue()):
                return None
            # It may have finished between the two reads; a server that leaves the queue before
            # writing history gets a moment more before the job is declared lost.
            entry = self.client.history(prompt_id)
            if entry is None:
                time.sleep(0.2)
                if prompt_id in _queued_ids(self.client.queue()):
                    return None
                entry = self.client.history(prompt_id)
            if entry is None:
                raise Cancelled(
                    f"ComfyUI at {self.base_url} no longer has the job {prompt_id}: it was removed"
                    " from its queue or history",
                    hint="Someone cleared the ComfyUI queue; generate again.",
                )
        status = entry.get("status") if isinstance(entry.get("status"), dict) else None
        if status is not None and status.get("status_str") == "error":
            raise error_from_history(entry, self.base_url, template.required_models if template else ())
        return entry

    def _finished_history(self, prompt_id: str, template: ComfyTemplate | None = None) -> dict[str, Any]:
        # execution_success is sent before the history entry is written: wait for it briefly.
        deadline = time.monotonic() + self.history_grace
        delay = 0.02
        while True:
            entry = self._poll(prompt_id, template, check_vanished=False)
            if entry is not None:
                return entry
            if time.monotonic() >= deadline:
                raise ProtocolError(
                    f"ComfyUI at {self.base_url} reported a prompt done but has no history for it",
                    hint="See the ComfyUI console; generate again.",
                )
            time.sleep(delay)
            delay = min(0.5, delay * 2)

    def _cancel_on_server(self, prompt_id: str) -> bool:
        """Pending: delete from the queue. Running: interrupt that prompt (and only that one).

        True when the prompt was running: the server finishes the node it is in before it stops."""
        try:
            queue = self.client.queue()
            if prompt_id in _queued_ids(queue, "queue_pending"):
                self.client.delete_from_queue([prompt_id])
                queue = self.client.queue()  # it may have started meanwhile
            if prompt_id in _queued_ids(queue, "queue_running"):
                self.client.interrupt(prompt_id)
                return True
        except BackendError as exc:
            log.warning("%s: could not cancel %s on the server: %s", self.display_name, prompt_id, exc)
        return False

    def _settle(self, prompt_id: str, stop: threading.Event) -> None:
        """Wait until an interrupted prompt has left the server's queue: until then the server is busy with it."""
        deadline = time.monotonic() + self.settle_timeout
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if prompt_id not in _queued_ids(self.client.queue()):
                    return
            except BackendError as exc:  # gone or unreachable: the next job will find out and say so
                log.info("%s: stopped waiting for %s to stop: %s", self.display_name, prompt_id, exc)
                return
            stop.wait(min(self.poll_interval, 1.0))
        if not stop.is_set():  # Shotcaller closing is no reason to warn
            log.warning(
                "%s: prompt %s still running %.0f s after it was interrupted",
                self.display_name,
                prompt_id,
                self.settle_timeout,
            )


def run_seconds_of(entry: dict[str, Any]) -> float | None:
    """Seconds the server spent executing the prompt (its history's execution_start to the last
    message), so a configured rate is charged for running, not for waiting in the queue."""
    status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
    stamps: dict[str, float] = {}
    for message in (status or {}).get("messages") or []:
        if isinstance(message, list | tuple) and len(message) == 2 and isinstance(message[1], dict):
            stamp = message[1].get("timestamp")
            if isinstance(stamp, int | float):
                stamps.setdefault(str(message[0]), float(stamp))
                stamps["last"] = float(stamp)
    start = stamps.get("execution_start")
    if start is None or "last" not in stamps:
        return None
    return max(0.0, (stamps["last"] - start) / 1000.0)  # ComfyUI stamps are milliseconds


def _queued_ids(queue: dict[str, Any], *keys: str) -> set[str]:
    ids: set[str] = set()
    for key in keys or ("queue_running", "queue_pending"):
        for item in queue.get(key) or []:
            if isinstance(item, list | tuple) and len(item) > 1:
                ids.add(str(item[1]))
    return ids


def _bytes(value: Any) -> int:
    return max(0, whole(value) or 0)


def _count(items: Any) -> int:
    return len(items) if isinstance(items, list) else 0


def _raise_if_cancelled(cancel: threading.Event, when: str) -> None:
    if cancel.is_set():
        raise Cancelled(f"the job was cancelled {when}")
