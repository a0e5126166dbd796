"""The contract every backend keeps, and the typed errors it raises.

A backend blocks on the network inside `run()`, reports progress through a
callback, and raises one of the errors below on failure. The scheduler decides
what happens next from the error's type alone: `failover` says whether another
candidate could succeed where this one failed.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..shots import MediaKind, Quality, ShotSpec
from .sentences import join_sentences

log = logging.getLogger(__name__)


class BackendError(Exception):
    """A backend could not produce the take. `message` says what, `hint` what to do."""

    failover: ClassVar[bool] = True
    kind: ClassVar[str] = "backend_error"
    # The failure is about the server's address (unreachable, no such endpoint, not this protocol),
    # not about the template or model: the job does not try that server's other templates.
    address_failure: bool = False

    def __init__(self, message: str, *, hint: str = "", backend: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.backend = backend

    def __str__(self) -> str:
        prefix = f"{self.backend}: " if self.backend else ""
        return prefix + join_sentences(self.message, self.hint)


class BackendUnreachable(BackendError):
    kind = "unreachable"
    address_failure = True
    # Set when the server was there and is not any more (a refused or dropped connection): what a
    # job running there hears when the server stops or crashes ("nothing is listening there any more").
    went_away: str = ""


class CredentialsRefused(BackendError):
    """The server answered 401 or 403: it wants credentials, or refused the ones it got. The server
    is there (not a dead server for the circuit breaker); every template there fails the same way
    until the credentials in its entry are fixed, so the job goes elsewhere."""

    kind = "credentials_refused"
    address_failure = True


class BackendBusy(BackendError):
    """Busy or rate limited: the same request may succeed later or elsewhere.

    `retry_after`: seconds the server or provider asked to wait (Retry-After, "try again in N s");
    None when it did not say. `retry_here` False: the server already retried the request itself
    (LiteLLM's provider client does for images), so asking it again would only multiply the calls.
    """

    kind = "busy"
    retry_after: float | None = None
    retry_here: bool = True


class OutOfMemory(BackendError):
    kind = "out_of_memory"


class InvalidRequest(BackendError):
    """The request itself is wrong (bad prompt, bad template): no other backend will do better."""

    failover = False
    kind = "invalid_request"


class MissingResource(BackendError):
    """A model file or node type the template needs is not installed on that server.

    `offers` names other offers of the same server it stops too (weights a server cannot download
    stop every model it has not downloaded yet), so the shot is not sent to them one after another.
    `server_state` is how other shots hear of it: the server's state and the fix, without this
    job's details ("cannot download model weights since 10:42: connect it ...").
    """

    kind = "missing_resource"

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        backend: str = "",
        offers: tuple[str, ...] = (),
        server_state: str = "",
    ) -> None:
        super().__init__(message, hint=hint, backend=backend)
        self.offers = offers
        self.server_state = server_state


class Cancelled(BackendError):
    """The job stopped because it was cancelled.

    `settle`, when set, blocks until the server has really stopped the job (real servers finish the
    node or step they are in first) or until the event it is given is set (Shotcaller is closing).
    The scheduler tells the user at once that the shot is cancelled, and keeps the server's slot
    taken until `settle` returns, so that no other job is sent to a server still busy with this one.
    """

    failover = False
    kind = "cancelled"

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        backend: str = "",
        settle: Callable[[threading.Event], None] | None = None,
        server_job_id: str = "",
    ) -> None:
        super().__init__(message, hint=hint, backend=backend)
        self.settle = settle
        self.server_job_id = server_job_id  # the server's id of the job: for logs, never the message


def shot_cancelled(
    spec: ShotSpec,
    where: str,
    server_job_id: str,
    *,
    settle: Callable[[threading.Event], None] | None = None,
    then: str = "",
) -> Cancelled:
    """"shot 'Harbour' was cancelled on ComfyUI at URL": the shot by its name, as the user knows it. The
    server's job id (a UUID nobody sees elsewhere) goes to the log and to `server_job_id` only."""
    log.info("%s cancelled on %s (job %s there)", spec.describe(), where, server_job_id)
    message = f"{spec.describe()} was cancelled on {where}" + (f"; {then}" if then else "")
    return Cancelled(message, settle=settle, server_job_id=server_job_id)


def raise_if_cancelled(cancel: threading.Event, when: str) -> None:
    """Stop a run between its steps once cancelled: Cancelled("the job was cancelled <when>")."""
    if cancel.is_set():
        raise Cancelled(f"the job was cancelled {when}")


class ProtocolError(BackendError):
    """The server answered something the protocol does not allow (garbage, a dropped stream)."""

    kind = "protocol_error"


class JobLost(ProtocolError):
    """The server no longer knows a job it once accepted (restarted, queue or history cleared)."""

    kind = "job_lost"


@dataclass(frozen=True)
class Offer:
    """One thing a backend instance can make: a template or model, for a media kind and tier.

    Plain data for the router. `vram_gb` is the base need (the model loaded, smallest job);
    `estimate_vram_gb` adds what grows with the job's pixels. `needs_init_image` offers can
    only make shots that have an init image. `max_frames` 0 means no limit.

    Long shots (routing/segments.py): frame counts lie on `frames_minimum + k * frames_step`;
    `continue_with` names the offer of the same instance and model family that continues a take
    from its last frame (image to video), so a shot longer than `max_frames` is made in segments;
    `sliding_window` offers make any length in one job (the server overlaps its own windows).
    `max_seconds` is the longest sound a sound offer makes (0: no limit).
    """

    name: str
    media: MediaKind
    quality: Quality
    label: str = ""
    model: str = ""
    vram_gb: float = 0.0
    vram_base_gb: float = 0.0
    vram_per_megapixel_frame_gb: float = 0.0
    needs_init_image: bool = False
    max_frames: int = 0
    frames_minimum: int = 1
    frames_step: int = 1
    family: str = ""
    continue_with: str = ""
    sliding_window: bool = False
    max_seconds: float = 0.0

    def estimate_vram_gb(self, width: int, height: int, frames: int) -> float:
        """GB of VRAM for a job of width x height pixels and `frames` frames (1 for a still or a sound)."""
        base = self.vram_base_gb or self.vram_gb
        megapixel_frames = max(0, width) * max(0, height) / 1_000_000 * max(1, frames)
        return base + self.vram_per_megapixel_frame_gb * megapixel_frames


@dataclass(frozen=True)
class GenerationRequest:
    spec: ShotSpec
    offer: Offer
    output_dir: str
    file_stem: str  # outputs are named <file_stem><suffix>.<ext> inside output_dir
    last_frame: bool = False  # also return the take's last frame as an image (a segment to continue from)


@dataclass(frozen=True)
class GenerationResult:
    files: tuple[str, ...]
    model: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    server_job_id: str = ""
    last_frame: str = ""  # the last frame as an image file, when the request asked for it
    cost: float | None = None  # what the service itself said the job cost (LiteLLM); None: it did not say
    run_seconds: float | None = None  # time the server spent running it (not queued), when it says


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1 over the whole job
    message: str = ""
    preview_image: bytes | None = None  # an encoded still of the work in progress
    preview_format: str = "png"  # "png" or "jpeg": Blender loads either


ProgressCallback = Callable[[Progress], None]


def announce_server_job(report: ProgressCallback, server_job_id: str, *, stage: str = "accepted") -> None:
    """Tell whoever runs the job the server's id for it, the moment it is known: `stage` "sending" when
    the id is ours and about to be sent (a ComfyUI prompt id), "accepted" once the server has the job,
    "finished" once its result is ready to fetch. The journal records it so a job survives Blender
    dying; a plain progress function without the `server_job` hook ignores it, so the contract stays
    one callable."""
    hook = getattr(report, "server_job", None)
    if callable(hook) and server_job_id:
        hook(server_job_id, stage)


class Backend(ABC):
    """One backend instance (one server). Thread-safe: `run` may be called from several workers."""

    kind: ClassVar[str] = "backend"

    def __init__(self, instance_id: str, *, max_concurrent: int = 1) -> None:
        self.instance_id = instance_id
        self.max_concurrent = max_concurrent

    @property
    def display_name(self) -> str:
        return f"{self.kind} '{self.instance_id}'"

    @abstractmethod
    def offers(self) -> list[Offer]:
        """What this instance can make. Cheap: no network."""

    @abstractmethod
    def run(self, request: GenerationRequest, report: ProgressCallback, cancel: threading.Event) -> GenerationResult:
        """Generate, block until done, write files under request.output_dir, return them."""

    can_resume: ClassVar[bool] = False  # does `resume` follow a job the server already has?

    def resume(
        self, request: GenerationRequest, server_job_id: str, report: ProgressCallback, cancel: threading.Event
    ) -> GenerationResult:
        """Follow a job this server already accepted (after a crash, or a cut-off download) to its end and
        fetch its files, generating nothing. Raises JobLost when the server no longer knows it."""
        raise JobLost(f"{self.display_name} cannot follow a job it was given earlier", backend=self.display_name)

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing open
        """Release connections. Called once at shutdown."""
