"""Turning a Wan2GP job's events into one progress bar that only moves forward.

`wangp_get_job` returns the job's last `event_limit` events each time, so events are told apart by
timestamp and content and each is applied once (`gap` says when a poll's window began after the
last event seen: events were missed, and the backend asks again for more). The shapes are those of
the real server (shared/api.py of Wan2GP 12.60):
- `status`: a string, often with timings ("Loading model ...", "Denoising | 0.6s / 0.8s"): shown;
- `progress` / `preview`: `phase`, `status`, `progress` (the server's estimate for the whole job,
  0-100), `current_step` / `total_steps` (only while a phase counts steps). The server names the
  phase from the status text and calls anything it does not recognise "inference", so a phase
  counts as denoising only when it comes with steps;
- `stream`: the whole server process's console, one line each (other requests' log lines, hub
  retries), a hundred or more per job: never shown as progress, kept (the last few hundred) so a
  failure can be explained from them;
- `error`, and `completed` whose `success` says whether the job made anything.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from ..forward_progress import MonotonicReporter
from ..numbers import finite
from .client import JobEvent

SUBMITTED = 0.05  # settings checked, init image uploaded, job accepted
RUN_END = 0.95  # the job is done on the server; downloading the result fills the rest
PHASES: Mapping[str, tuple[float, float]] = {
    "loading_model": (0.05, 0.15),
    "encoding_text": (0.15, 0.2),
    "inference": (0.2, 0.88),
    "inference_stage_1": (0.2, 0.6),  # two- and three-pass models (Wan 2.2 14B's two experts)
    "inference_stage_2": (0.6, 0.84),
    "inference_stage_3": (0.84, 0.88),
    "decoding": (0.88, 0.93),
    "downloading_output": (0.93, RUN_END),
}
_STEPPED = {"encoding_text", "inference", "inference_stage_1", "inference_stage_2", "inference_stage_3", "decoding"}
_PHASE_WORDS = {
    "loading_model": "loading the model",
    "encoding_text": "encoding the prompt",
    "inference": "denoising",
    "inference_stage_1": "denoising, first pass",
    "inference_stage_2": "denoising, second pass",
    "inference_stage_3": "denoising, third pass",
    "decoding": "decoding the video",
    "downloading_output": "saving the video",
    "cancelled": "cancelled",
}
STREAM_LINES_KEPT = 400
_HUB_RETRY = re.compile(r"Retrying in \d+s \[Retry (\d+)/(\d+)\]")
_MESSAGE_LIMIT = 160


class JobProgress:
    """Applies each new event of a job once; keeps its errors and its last console lines."""

    def __init__(self, reporter: MonotonicReporter) -> None:
        self.reporter = reporter
        self.errors: list[str] = []
        self.stream: deque[str] = deque(maxlen=STREAM_LINES_KEPT)
        self.succeeded: bool | None = None  # what `completed` said, once it came
        self._latest = float("-inf")
        self._seen_at_latest: set[str] = set()

    def gap(self, events: Iterable[JobEvent]) -> bool:
        """True when this window of events starts after the last one applied: some fell out of it."""
        timestamps = [event.timestamp for event in events]
        return bool(timestamps) and self._latest != float("-inf") and min(timestamps) > self._latest

    def apply(self, events: Iterable[JobEvent]) -> None:
        for event in sorted(events, key=lambda e: e.timestamp):
            if self._is_new(event):
                self._handle(event)

    def _is_new(self, event: JobEvent) -> bool:
        key = f"{event.kind}:{json.dumps(event.data, sort_keys=True, default=str)}"
        if event.timestamp < self._latest:
            return False
        if event.timestamp > self._latest:
            self._latest, self._seen_at_latest = event.timestamp, set()
        if key in self._seen_at_latest:
            return False
        self._seen_at_latest.add(key)
        return True

    def _handle(self, event: JobEvent) -> None:
        data = event.data
        if event.kind == "started":
            self.reporter.update(SUBMITTED, "started on Wan2GP")
        elif event.kind in ("status", "info") and isinstance(data, str) and data.strip():
            self.reporter.update(self.reporter.fraction, status_text(data))
        elif event.kind in ("progress", "preview") and isinstance(data, Mapping):
            fraction, message = phase_progress(data)
            self.reporter.update(fraction, message)
        elif event.kind == "stream" and isinstance(data, Mapping):
            self._stream_line(str(data.get("text") or ""))
        elif event.kind == "error" and isinstance(data, Mapping):
            message = str(data.get("message") or "").strip()
            if message:
                self.errors.append(message)
        elif event.kind == "completed":
            self.succeeded = isinstance(data, Mapping) and data.get("success") is True
            if self.succeeded:
                self.reporter.update(RUN_END, "finished on Wan2GP")
            else:  # a failed or cancelled job is never shown as finished
                self.reporter.update(self.reporter.fraction, "Wan2GP reports the job did not succeed")

    def _stream_line(self, text: str) -> None:
        self.stream.append(text)
        retry = _HUB_RETRY.search(text)
        if retry:  # the one console line worth showing: the server is stuck fetching weights
            self.reporter.update(
                self.reporter.fraction,
                f"Wan2GP cannot reach the Hugging Face hub for model weights (retry {retry[1]}/{retry[2]})",
            )


def status_text(text: str) -> str:
    """A status line as shown: one line, spaces collapsed, not too long."""
    words = " ".join(text.split())
    return words if len(words) <= _MESSAGE_LIMIT else words[: _MESSAGE_LIMIT - 3] + "..."


def phase_progress(data: Mapping[str, Any]) -> tuple[float, str | None]:
    """The overall fraction and a message for a progress/preview event's data."""
    phase = str(data.get("phase") or "")
    step, total = _number(data.get("current_step")), _number(data.get("total_steps"))
    percent = _number(data.get("progress"))
    status = status_text(str(data.get("status") or ""))
    stepped = step is not None and bool(total) and phase in _STEPPED
    if stepped and step is not None and total:
        start, end = PHASES[phase]
        fraction = start + (end - start) * min(1.0, max(0.0, step / total))
        words = status or _PHASE_WORDS[phase]
        return fraction, f"{words} (step {int(step)}/{int(total)})"
    # No steps: the server's own estimate for the whole job, never past where its phase ends.
    start, end = PHASES.get(phase, (SUBMITTED, RUN_END))
    overall = SUBMITTED + (RUN_END - SUBMITTED) * min(1.0, max(0.0, (percent or 0.0) / 100.0))
    fraction = min(end, max(start if phase in PHASES and phase != "inference" else SUBMITTED, overall))
    if phase == "inference":  # the server's name for anything it does not recognise
        return fraction, status or None
    return fraction, status or _PHASE_WORDS.get(phase, phase.replace("_", " ")) or None


def _number(value: Any) -> float | None:
    return finite(value)
