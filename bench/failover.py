"""Failover time: a reference ComfyUI server killed mid-job, to the job accepted by another server.

Two real reference servers, two real ComfyUIBackend instances, the real scheduler.
The clock starts when the first server is stopped while the job samples on it
(`handle.stop()`: SIGTERM, the server interrupts its prompt and exits; or `hard`:
SIGKILL, the connection just drops), and stops when the second server has accepted
the resubmitted job ("queued on ComfyUI" from the second attempt). Events are
timestamped when the scheduler emits them, not when this thread reads them.
"""

from __future__ import annotations

import queue
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from devservers.comfyui.launch import start_server
from shotcaller.backends.comfyui.backend import ComfyUIBackend
from shotcaller.jobs.events import TERMINAL_EVENTS, JobEvent, JobProgress, JobRouted, JobSucceeded
from shotcaller.jobs.scheduler import Scheduler
from shotcaller.routing.registry import CapabilityRegistry, InstanceConfig
from shotcaller.shots import make_spec


@dataclass(frozen=True)
class FailoverResult:
    to_rerouted: float  # seconds from the kill to the second attempt being routed
    to_accepted: float  # ... to the second server accepting the job
    succeeded: bool
    second_backend: str


class StampedQueue(queue.Queue):  # type: ignore[type-arg]
    """The scheduler's event queue, remembering when each event was put."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: dict[int, float] = {}

    def put(self, item, block=True, timeout=None):  # type: ignore[no-untyped-def]
        self.stamps[id(item)] = time.monotonic()
        super().put(item, block, timeout)


def measure(step_seconds: float = 0.25, timeout: float = 60.0, hard: bool = False) -> FailoverResult:
    with tempfile.TemporaryDirectory(prefix="shotcaller-failover-") as tmp:
        first = start_server(Path(tmp) / "a", step_seconds=step_seconds)
        second = start_server(Path(tmp) / "b", step_seconds=step_seconds)
        backends = [ComfyUIBackend("ref-a", first.url), ComfyUIBackend("ref-b", second.url)]
        registry = CapabilityRegistry(
            [(b, InstanceConfig("comfyui", name=b.instance_id, url=b.base_url)) for b in backends]
        )
        events = StampedQueue()
        scheduler = Scheduler(registry=registry, events=events)
        try:
            spec = make_spec(
                shot_id="failover0001",
                label="Failover",
                prompt="a lighthouse at dusk",
                width=64,
                height=64,
                frame_count=9,
                fps=8,
            )
            job_id = scheduler.submit(spec, str(Path(tmp) / "takes"), "failover")
            _wait_for(
                scheduler.events, job_id, timeout, lambda e: isinstance(e, JobProgress) and "step" in e.message
            )  # sampling on ref-a
            killed = time.monotonic()
            if hard:
                first.process.kill()
            else:
                first.stop()
            routed = _wait_for(scheduler.events, job_id, timeout, lambda e: isinstance(e, JobRouted))
            assert isinstance(routed, JobRouted)
            rerouted = events.stamps[id(routed)] - killed
            queued = _wait_for(
                scheduler.events,
                job_id,
                timeout,
                lambda e: isinstance(e, JobProgress) and e.message == "queued on ComfyUI",
            )
            accepted = events.stamps[id(queued)] - killed
            final = _wait_for(scheduler.events, job_id, timeout, lambda e: isinstance(e, TERMINAL_EVENTS))
            return FailoverResult(rerouted, accepted, isinstance(final, JobSucceeded), routed.backend)
        finally:
            scheduler.shutdown(wait=False)
            first.stop()
            second.stop()


def _wait_for(events: queue.Queue[JobEvent], job_id: str, timeout: float, match) -> JobEvent:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        event = events.get(timeout=max(0.01, deadline - time.monotonic()))
        if event.job_id != job_id:
            continue
        if match(event):
            return event
        if isinstance(event, TERMINAL_EVENTS):
            raise RuntimeError(f"the job ended before the benchmark saw what it waited for: {event}")
