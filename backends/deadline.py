"""The one deadline of an HTTP exchange (or a websocket), and the watchdog that enforces it.

A socket timeout bounds each wait for a byte, not the whole answer: a server that drips a byte a
second would hold a worker forever. So each exchange arms a Deadline, and one daemon thread for
the whole process shuts the socket when the deadline passes or the exchange's cancel event is set;
the read that was blocked then fails, and the reader says why (TooSlow or Cancelled).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.parse
from typing import Any

from .base import BackendUnreachable


class TooSlow(BackendUnreachable):
    """The exchange did not finish within its total deadline."""


class Deadline:
    """The end of one exchange. When it passes (or `cancel` is set), the socket is shut down."""

    def __init__(self, seconds: float, cancel: threading.Event | None = None) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.cancel = cancel
        self.fired = ""  # "deadline" or "cancel" once it has shut the socket
        self._connection: Any = None  # anything with a `.sock`: an HTTPConnection, a websocket
        self._lock = threading.Lock()

    def left(self) -> float:
        return max(0.001, self.at - time.monotonic())

    def due(self, now: float) -> str:
        if self.cancel is not None and self.cancel.is_set():
            return "cancel"
        return "deadline" if now >= self.at else ""

    def watch(self, connection: Any) -> None:
        with self._lock:
            self._connection = connection
        if self.fired:
            self._shut()

    def fire(self, why: str) -> None:
        self.fired = why
        self._shut()

    def _shut(self) -> None:
        with self._lock:
            sock = self._connection.sock if self._connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for every armed Deadline of the process."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[Deadline] = set()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: Deadline) -> None:
        with self._cond:
            self._armed.add(deadline)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="shotcaller-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def disarm(self, deadline: Deadline) -> None:
        with self._cond:
            self._armed.discard(deadline)

    def _loop(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [(d, why) for d in self._armed if (why := d.due(now))]
                for deadline, _ in due:
                    self._armed.discard(deadline)
                waits = [d.at - now for d in self._armed]
                if any(d.cancel is not None for d in self._armed):
                    waits.append(0.05)  # cancel events are looked at this often
                if not due:
                    self._cond.wait(min(waits) if waits else None)
            for deadline, why in due:
                deadline.fire(why)


WATCHDOG = _Watchdog()


def too_slow(label: str, url: str, deadline: Deadline) -> TooSlow:
    return TooSlow(
        f"{label} did not answer in time: {urllib.parse.urlsplit(url).path or '/'} took longer than"
        f" {deadline.seconds:g} s (the whole answer counts, not just its first byte)",
        hint="The server is overloaded, frozen or sending very slowly; try again or use another server.",
    )
