"""In-process backends that keep the Backend contract, for testing the scheduler and router logic.

Client code is never tested with these: clients talk to real servers on loopback.
"""

from __future__ import annotations

import os
import threading

from shotcaller.backends.base import (
    Backend,
    GenerationRequest,
    GenerationResult,
    Offer,
    Progress,
    ProgressCallback,
)
from shotcaller.shots import MediaKind, Quality


class ScriptedBackend(Backend):
    """Writes a small file per job, or raises the next scripted error."""

    kind = "scripted"

    def __init__(self, instance_id: str, offers: list[Offer] | None = None, *, errors=(), max_concurrent=1,
                 block: threading.Event | None = None):
        super().__init__(instance_id, max_concurrent=max_concurrent)
        self._offers = offers or [Offer("t2v", MediaKind.VIDEO, Quality.DRAFT, label="test video")]
        self.errors = list(errors)
        self.block = block
        self.calls: list[GenerationRequest] = []
        self._lock = threading.Lock()

    def offers(self) -> list[Offer]:
        return list(self._offers)

    def run(self, request: GenerationRequest, report: ProgressCallback, cancel: threading.Event) -> GenerationResult:
        with self._lock:
            self.calls.append(request)
            error = self.errors.pop(0) if self.errors else None
        report(Progress(0.5, "halfway"))
        if self.block is not None:
            while not self.block.wait(0.01):
                if cancel.is_set():
                    from shotcaller.backends.base import Cancelled

                    raise Cancelled("stopped by the user")
        if error is not None:
            raise error
        path = os.path.join(request.output_dir, f"{request.file_stem}.mp4")
        os.makedirs(request.output_dir, exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(b"not really a movie")
        report(Progress(1.0, "done"))
        return GenerationResult(files=(path,), model="test-model", parameters={"steps": 1}, server_job_id="p1")
