"""In-process backends that keep the Backend contract, for testing the scheduler and router logic.

Client code is never tested with these: clients talk to real servers on loopback.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from shotcaller.backends.base import (
    Backend,
    Cancelled,
    GenerationRequest,
    GenerationResult,
    Offer,
    Progress,
    ProgressCallback,
)
from shotcaller.shots import MediaKind, Quality


@dataclass(frozen=True)
class FakeProbe:
    """Shaped like ComfyUI's ServerProbe where discovery reads it (bytes, queue counts)."""

    vram_total: int = 0
    vram_free: int = 0
    queue_length: int = 0
    device_name: str = "fake"


class ScriptedBackend(Backend):
    """Writes a small file per job, or raises the next scripted error.

    `seconds` makes each job take that long (cancellable); `block` holds every job until set;
    `probe_result` (a FakeProbe, or an exception to raise) makes it discoverable; `base_url`
    gives it a locality.
    """

    kind = "scripted"

    def __init__(
        self,
        instance_id: str,
        offers: list[Offer] | None = None,
        *,
        errors=(),
        max_concurrent=1,
        block: threading.Event | None = None,
        seconds: float = 0.0,
        base_url: str = "",
        probe_result: FakeProbe | Exception | None = None,
    ):
        super().__init__(instance_id, max_concurrent=max_concurrent)
        self._offers = offers or [Offer("t2v", MediaKind.VIDEO, Quality.DRAFT, label="test video")]
        self.errors = list(errors)
        self.block = block
        self.seconds = seconds
        self.base_url = base_url
        self.probe_result = probe_result
        self.calls: list[GenerationRequest] = []
        self.running = 0
        self.max_running = 0  # most jobs seen at once: checks per-instance concurrency
        self.start_times: list[float] = []
        self._lock = threading.Lock()

    def offers(self) -> list[Offer]:
        return list(self._offers)

    def probe(self) -> FakeProbe:
        if isinstance(self.probe_result, Exception):
            raise self.probe_result
        return self.probe_result or FakeProbe()

    def run(self, request: GenerationRequest, report: ProgressCallback, cancel: threading.Event) -> GenerationResult:
        with self._lock:
            self.calls.append(request)
            self.start_times.append(time.monotonic())
            error = self.errors.pop(0) if self.errors else None
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            report(Progress(0.5, "halfway"))
            if self.block is not None:
                while not self.block.wait(0.01):
                    if cancel.is_set():
                        raise Cancelled("stopped by the user")
            if self.seconds and cancel.wait(self.seconds):
                raise Cancelled("stopped by the user")
            if error is not None:
                raise error
            path = os.path.join(request.output_dir, f"{request.file_stem}.mp4")
            os.makedirs(request.output_dir, exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(b"not really a movie")
            last_frame = ""
            if request.last_frame:
                last_frame = os.path.join(request.output_dir, f"{request.file_stem}_last.png")
                with open(last_frame, "wb") as handle:
                    handle.write(b"not really a frame")
            report(Progress(1.0, "done"))
            return GenerationResult(
                files=(path,), model="test-model", parameters={"steps": 1}, server_job_id="p1", last_frame=last_frame
            )
        finally:
            with self._lock:
                self.running -= 1
