"""A progress bar that only moves forward, whatever order a server's reports come in."""

from __future__ import annotations

from .base import Progress, ProgressCallback


class MonotonicReporter:
    """Forwards Progress to the scheduler, never letting the fraction go down."""

    def __init__(self, report: ProgressCallback) -> None:
        self._report = report
        self.fraction = 0.0
        self.message = ""

    def update(
        self,
        fraction: float,
        message: str | None = None,
        preview_image: bytes | None = None,
        preview_format: str = "png",
    ) -> None:
        fraction = min(1.0, max(self.fraction, fraction))
        message = self.message if message is None else message
        if message != self.message and self.message.startswith(message):
            # A shorter report of the same thing (Wan2GP's "Loading model" after its "Loading model
            # Wan2.2 TextImage2video 5B...", "started on Wan2GP" after the client named the model)
            # would only lose what the user was reading.
            message = self.message
        moved = fraction - self.fraction >= 0.001 or message != self.message
        self.fraction, self.message = fraction, message
        if moved or preview_image is not None or fraction == 1.0:
            self._report(Progress(fraction, message, preview_image, preview_format))
