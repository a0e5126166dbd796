"""Turning a Wan2GP job's events into one progress bar that only moves forward.

`wangp_get_job` returns the job's last `event_limit` events each time, so events are told apart by
timestamp and content and each is applied once. Kinds (shared/api.py): `started`, `status` (a
string), `progress` and `preview` (phase, progress 0-100, current_step/total_steps), `info`,
`error`, `completed`; `stream` events are the whole server process's console output (other
requests' log lines included) and are ignored. Phases share the bar in this order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..base import Progress, ProgressCallback
from .client import JobEvent

SUBMITTED = 0.05  # settings checked, init image uploaded, job accepted
RUN_END = 0.95  # the job is done on the server; downloading the result fills the rest
PHASES: Mapping[str, tuple[float, float]] = {
    "loading_model": (0.05, 0.15),
    "encoding_text": (0.15, 0.2),
    "inference": (0.2, 0.88),
    "decoding": (0.88, 0.93),
    "downloading_output": (0.93, RUN_END),
}
_PHASE_WORDS = {
    "loading_model": "loading the model",
    "encoding_text": "encoding the prompt",
    "inference": "denoising",
    "decoding": "decoding the video",
    "downloading_output": "saving the video",
    "cancelled": "cancelled",
}


class MonotonicReporter:
    """Forwards Progress to the scheduler, never letting the fraction go down."""

    def __init__(self, report: ProgressCallback) -> None:
        self._report = report
        self.fraction = 0.0
        self.message = ""

    def update(self, fraction: float, message: str | None = None) -> None:
        fraction = min(1.0, max(self.fraction, fraction))
        message = self.message if message is None else message
        moved = fraction - self.fraction >= 0.001 or message != self.message
        self.fraction, self.message = fraction, message
        if moved or fraction == 1.0:
            self._report(Progress(fraction, message))


class JobProgress:
    """Applies each new event of a job once; keeps the last error messages it saw."""

    def __init__(self, reporter: MonotonicReporter) -> None:
        self.reporter = reporter
        self.errors: list[str] = []
        self._latest = float("-inf")
        self._seen_at_latest: set[str] = set()

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
            self.reporter.update(self.reporter.fraction, data.strip())
        elif event.kind in ("progress", "preview") and isinstance(data, Mapping):
            fraction, message = phase_progress(data)
            self.reporter.update(fraction, message)
        elif event.kind == "error" and isinstance(data, Mapping):
            message = str(data.get("message") or "").strip()
            if message:
                self.errors.append(message)
        elif event.kind == "completed":
            self.reporter.update(RUN_END, "finished on Wan2GP")


def phase_progress(data: Mapping[str, Any]) -> tuple[float, str | None]:
    """The overall fraction and a message for a progress/preview event's data."""
    phase = str(data.get("phase") or "")
    step, total = _number(data.get("current_step")), _number(data.get("total_steps"))
    percent = _number(data.get("progress"))
    if step is not None and total:
        within = step / total
    elif percent is not None:
        within = percent / 100.0
    else:
        within = 0.0
    within = min(1.0, max(0.0, within))
    start, end = PHASES.get(phase, (SUBMITTED, RUN_END))
    status = str(data.get("status") or "").strip()
    words = status or _PHASE_WORDS.get(phase, phase.replace("_", " ")) or None
    if words and step is not None and total:
        words = f"{words} (step {int(step)}/{int(total)})"
    return start + (end - start) * within, words


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
