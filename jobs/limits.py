"""Per-instance rate limits: at most N job starts in any 60-second window (a cloud API's quota)."""

from __future__ import annotations

from collections import deque

UNLIMITED = 1 << 30


class RateLimiter:
    """Not thread-safe on its own: the scheduler calls it under its lock."""

    def __init__(self, per_minute: int = 0, window_seconds: float = 60.0) -> None:
        self.per_minute = max(0, per_minute)
        self.window = window_seconds
        self._starts: deque[float] = deque()

    def _forget(self, now: float) -> None:
        while self._starts and now - self._starts[0] >= self.window:
            self._starts.popleft()

    def allowed_now(self, now: float) -> int:
        """How many more jobs may start right now."""
        if not self.per_minute:
            return UNLIMITED
        self._forget(now)
        return max(0, self.per_minute - len(self._starts))

    def wait_after_quota(self, now: float) -> float:
        """Seconds from now until one more start is allowed once the current quota is used up."""
        if not self.per_minute:
            return 0.0
        self._forget(now)
        if len(self._starts) < self.per_minute:
            # Starts planned now fill the quota; the earliest of those lapses a full window later.
            return self.window if not self._starts else self._starts[0] + self.window - now
        return self._starts[-self.per_minute] + self.window - now

    def record(self, now: float) -> None:
        if self.per_minute:
            self._starts.append(now)
