"""Which backend instances failed recently, so the router stops sending work there for a while."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class HealthBook:
    """Marks an instance down after a failure that says it cannot serve (unreachable), for a cooldown.

    The full circuit breaker (open after N failures, half-open probe) belongs to the routing engine;
    this is the smallest honest version: one failure, one cooldown, then it is tried again.
    """

    def __init__(self, cooldown_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._down: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def mark_down(self, instance_id: str, reason: str) -> None:
        with self._lock:
            self._down[instance_id] = (self._clock() + self.cooldown_seconds, reason)

    def mark_up(self, instance_id: str) -> None:
        with self._lock:
            self._down.pop(instance_id, None)

    def unavailable_reason(self, instance_id: str) -> str | None:
        with self._lock:
            entry = self._down.get(instance_id)
            if entry is None:
                return None
            until, reason = entry
            if self._clock() >= until:
                del self._down[instance_id]
                return None
            return f"failed {reason}; retried after a {self.cooldown_seconds:.0f} s cooldown"
