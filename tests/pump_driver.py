"""Drive Shotcaller's main-thread pump in headless Blender, as the UI timer would."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def run_pump_until_idle(
    pump: Any,
    *,
    timeout: float = 120.0,
    on_tick: Callable[[], None] | None = None,
    describe: Callable[[], str] = lambda: "",
) -> None:
    """Call `pump.tick()` (the timer's own function) until it says it is idle.

    Timers never fire headless, so tests call it themselves; on timeout the failure
    says what the shot was last doing (`describe`).
    """
    deadline = time.monotonic() + timeout
    while pump.tick() is not None:
        if on_tick is not None:
            on_tick()
        if time.monotonic() >= deadline:
            raise AssertionError(f"Shotcaller did not go idle within {timeout:.0f} s: {describe()}")
        time.sleep(0.02)
