"""The heavy half of Shotcaller (pydantic models, backend clients, the scheduler) is imported on first
use, not when the add-on is enabled: registering classes must stay cheap. Blender-layer modules that
only need to know whether something is running ask here, without importing it."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

PACKAGE = __package__.rpartition(".")[0]  # the extension's own package (bl_ext.<repo>.shotcaller)

_emulated_ui = False


def emulate_ui(on: bool = True) -> None:
    """Behave as in Blender's UI (tests, benchmarks): the bpy module always runs in background mode,
    where nothing warms the core up and every operator imports what it needs itself."""
    global _emulated_ui
    _emulated_ui = on


def in_ui() -> bool:
    """Whether Blender draws a UI a frozen main thread would freeze (or a test says so): the
    sidebar's polls start the warm-up, operators pressed during it wait for it (operators/deferred.py),
    and a first session is opened on a worker thread. Headless, all of it happens where it is needed."""
    import bpy

    return _emulated_ui or not bpy.app.background


def loaded(name: str) -> ModuleType | None:
    """The package's module `name` ("jobs.session", "mainthread.pump", ...) if something already imported it.
    None while it is still being imported (by the warm-up thread): its names are not all there yet."""
    module = sys.modules.get(f"{PACKAGE}.{name}")
    # importlib marks a module's spec while it runs the module's code (its "partially initialized" error)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return None
    return module


def current_session() -> Any | None:
    """The running session, or None; never starts one, never imports the session module."""
    session = loaded("jobs.session")
    return session.current_session() if session is not None else None


def ensure_timer() -> None:
    """Start the pump's timer; the pump, and the session behind it, are imported on first use."""
    from ..mainthread import pump

    pump.ensure_timer()


def submit_strips(*args: Any, **kwargs: Any) -> Any:
    """submission.submit_strips, imported (with pydantic and the scheduler) on first use."""
    from ..mainthread.submission import submit_strips

    return submit_strips(*args, **kwargs)
