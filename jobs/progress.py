"""Turns a backend's progress callbacks into events, dropping moves too small to see."""

from __future__ import annotations

from collections.abc import Callable

from ..backends.base import Progress
from .events import JobEvent, JobProgress

PROGRESS_STEP = 0.005  # smaller moves are not worth an event


class ProgressThrottle:
    def __init__(self, emit: Callable[[JobEvent], None], job_id: str, shot_id: str) -> None:
        self._emit = emit
        self._job_id = job_id
        self._shot_id = shot_id
        self._fraction = -1.0
        self._message: str | None = None

    def __call__(self, progress: Progress) -> None:
        fraction = min(1.0, max(0.0, progress.fraction))
        moved = abs(fraction - self._fraction) >= PROGRESS_STEP
        if progress.preview_image is None and not moved and progress.message == self._message:
            return
        self._fraction, self._message = fraction, progress.message
        self._emit(
            JobProgress(
                self._job_id,
                self._shot_id,
                fraction,
                progress.message,
                progress.preview_image,
                progress.preview_format,
            )
        )
