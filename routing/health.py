"""Circuit breakers: which backend instances failed recently, so work stops going there for a while.

Per instance: closed (normal) until `failure_threshold` failures in a row, or one
decisive failure (nothing listens at the address: no need to ask three times);
then open for `cooldown_seconds`; then half-open, where exactly one job or probe
may test it. Success closes it; failure opens it again for another cooldown.
The router still tries an open instance when nothing else can make the shot: a
server that failed a minute ago may be back (the user just started it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class _Breaker:
    failures: int = 0
    opened_at: float | None = None
    reason: str = ""
    probing: bool = False


@dataclass(frozen=True)
class BreakerStatus:
    state: BreakerState
    failures: int
    reason: str
    retry_in: float  # seconds until half-open; 0 unless open


class CircuitBreakers:
    def __init__(
        self,
        failure_threshold: int = 3,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = max(1, failure_threshold)
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._breakers: dict[str, _Breaker] = {}
        self._lock = threading.Lock()

    def record_failure(self, instance_id: str, reason: str, *, decisive: bool = False) -> None:
        with self._lock:
            breaker = self._breakers.setdefault(instance_id, _Breaker())
            breaker.failures += 1
            breaker.reason = reason
            half_open = self._state(breaker) is BreakerState.HALF_OPEN
            breaker.probing = False
            if decisive or half_open or breaker.failures >= self.failure_threshold:
                breaker.opened_at = self._clock()

    def record_success(self, instance_id: str) -> None:
        with self._lock:
            self._breakers.pop(instance_id, None)

    def record_probe_success(self, instance_id: str) -> None:
        """A discovery probe answered: closes a half-open breaker, but never cuts a cooldown short."""
        with self._lock:
            breaker = self._breakers.get(instance_id)
            if breaker is not None and self._state(breaker) is BreakerState.HALF_OPEN and not breaker.probing:
                del self._breakers[instance_id]

    def release_probe(self, instance_id: str) -> None:
        """The probe job ended without a verdict (cancelled, user error): let another one test it."""
        with self._lock:
            breaker = self._breakers.get(instance_id)
            if breaker is not None:
                breaker.probing = False

    def claim_probe(self, instance_id: str) -> bool:
        """Take the single half-open trial. True also when the breaker is closed (nothing to claim)."""
        with self._lock:
            breaker = self._breakers.get(instance_id)
            if breaker is None or self._state(breaker) is BreakerState.CLOSED:
                return True
            if self._state(breaker) is BreakerState.HALF_OPEN and not breaker.probing:
                breaker.probing = True
                return True
            return False

    def state(self, instance_id: str) -> BreakerState:
        with self._lock:
            breaker = self._breakers.get(instance_id)
            return BreakerState.CLOSED if breaker is None else self._state(breaker)

    def unavailable_reason(self, instance_id: str) -> str | None:
        """None when the instance may take work now; else why not, in words."""
        with self._lock:
            breaker = self._breakers.get(instance_id)
            if breaker is None:
                return None
            state = self._state(breaker)
            if state is BreakerState.CLOSED:
                return None
            if state is BreakerState.HALF_OPEN:
                return "one job is testing whether it is back" if breaker.probing else None
            assert breaker.opened_at is not None
            wait = breaker.opened_at + self.cooldown_seconds - self._clock()
            return f"{breaker.reason}; next try in {max(1, round(wait))} s"

    def status(self, instance_id: str) -> BreakerStatus:
        with self._lock:
            breaker = self._breakers.get(instance_id)
            if breaker is None:
                return BreakerStatus(BreakerState.CLOSED, 0, "", 0.0)
            state = self._state(breaker)
            retry_in = 0.0
            if state is BreakerState.OPEN and breaker.opened_at is not None:
                retry_in = max(0.0, breaker.opened_at + self.cooldown_seconds - self._clock())
            return BreakerStatus(state, breaker.failures, breaker.reason, retry_in)

    def _state(self, breaker: _Breaker) -> BreakerState:
        if breaker.opened_at is None:
            return BreakerState.CLOSED
        if self._clock() < breaker.opened_at + self.cooldown_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN
