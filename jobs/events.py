"""What the scheduler tells the main thread. Plain immutable data, safe across threads."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..backends.sentences import join_sentences
from ..shots import Take


@dataclass(frozen=True)
class JobEvent:
    job_id: str
    shot_id: str

    @property
    def kind(self) -> str:
        return type(self).__name__.removeprefix("Job").lower()


@dataclass(frozen=True)
class CandidateNote:
    """One line of the routing decision's candidate list, for the shot's panel."""

    label: str  # "ComfyUI on gpu-box-2 with Wan 2.2 TI2V 5B"
    accepted: bool
    reason: str


@dataclass(frozen=True)
class JobRouted(JobEvent):
    backend: str  # display name of the chosen instance
    template: str
    explanation: str  # one sentence: where and why (and, after a failure, what failed before)
    attempt: int = 1
    adjustments: str = ""  # what changed in the shot's settings and why ("" when nothing did)
    instance_id: str = ""
    expected_seconds: float = 0.0  # wait for a slot + run time, from measured speed
    candidates: tuple[CandidateNote, ...] = ()  # every candidate with its accept or reject reason


@dataclass(frozen=True)
class JobStarted(JobEvent):
    backend: str


@dataclass(frozen=True)
class JobProgress(JobEvent):
    fraction: float
    message: str = ""
    preview_image: bytes | None = field(default=None, repr=False)
    preview_format: str = "png"


@dataclass(frozen=True)
class JobSucceeded(JobEvent):
    take: Take
    record_path: str = ""  # the take's provenance record beside its files


@dataclass(frozen=True)
class JobFailed(JobEvent):
    error_kind: str
    message: str
    hint: str = ""
    started_at: float = 0.0  # wall clock when its first attempt started on a server; 0.0: it never started
    seconds: float = 0.0  # how long its attempts ran

    @property
    def text(self) -> str:
        return join_sentences(self.message, self.hint)


@dataclass(frozen=True)
class JobCancelled(JobEvent):
    message: str = "cancelled"
    started_at: float = 0.0  # as JobFailed's
    seconds: float = 0.0


TERMINAL_EVENTS = (JobSucceeded, JobFailed, JobCancelled)


def describe(event: JobEvent, name: str = "") -> str:
    """One line for logs and the headless batch; `name` is the shot's strip name where it is known
    (a filmmaker reading the batch's output knows their shots by name, not by id)."""
    shot = f"'{name}'" if name else f"shot {event.shot_id[:8]}"
    head = f"[{event.kind}] {shot} job {event.job_id[:8]}"
    if isinstance(event, JobRouted):
        return f"{head}: attempt {event.attempt} on {event.backend} with {event.template}: {event.explanation}"
    if isinstance(event, JobStarted):
        return f"{head}: running on {event.backend}"
    if isinstance(event, JobProgress):
        return f"{head}: {event.fraction:5.1%} {event.message}".rstrip()
    if isinstance(event, JobSucceeded):
        return f"{head}: take {', '.join(event.take.files)}"
    if isinstance(event, JobFailed):
        return f"{head}: {event.error_kind}: {event.text}"
    if isinstance(event, JobCancelled):
        return f"{head}: {event.message}"
    return head
