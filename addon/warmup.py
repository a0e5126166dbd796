"""The core a Generate needs (pydantic, the scheduler, the configured backends' clients) imported on a
worker thread when the sidebar first shows a button that submits shots, so the first Generate does not
freeze the UI while Python imports about 150 modules (0.2-0.5 s on a 2-core machine). A button pressed
before it has finished neither imports nor waits: its shots wait for it (operators/deferred.py).

Not at register: enabling the add-on stays cheap and starts no thread. Not headless: there is no
frame to keep, and the operator runs right after its poll, so the import happens where it is needed.

Only the pure core is imported here (never bpy: it is safe on any thread); the Blender-layer modules on
top of it (mainthread.submission, mainthread.pump) are left to the main thread, where they cost a few
milliseconds once the core is in. The main thread keeps drawing meanwhile, but each time it enters
Python it waits for the interpreter lock this thread holds (up to its switch interval, 5 ms): so the
thread pauses before every module it imports, and the main thread gets the lock at once there.
Last, it freezes what is alive out of later garbage collections (jobs/collector.py), which the first
session would do otherwise, holding the lock 10-15 ms just when a Generate wants it.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

from .lazy import PACKAGE, loaded

log = logging.getLogger(__name__)

# What every Generate imports, whatever the servers: the shot models, the scheduler, the journal.
CORE_MODULES = ("shots", "jobs.session", "jobs.journal")
# The client of each backend kind, imported by its factory in jobs/session.py when a session is built.
BACKEND_MODULES = {
    "comfyui": "backends.comfyui.backend",
    "wan2gp": "backends.wan2gp.backend",
    "litellm": "backends.litellm.backend",
}
PAUSE_SECONDS = 0.001  # before each module the thread imports: the main thread's turn at the lock

_lock = threading.Lock()
_thread: threading.Thread | None = None
_failure: str | None = None  # what went wrong, when an import raised


def modules_for(kinds: Iterable[str]) -> list[str]:
    """The modules to import for servers of these kinds (unknown kinds add nothing)."""
    return [*CORE_MODULES, *(BACKEND_MODULES[kind] for kind in sorted(set(kinds)) if kind in BACKEND_MODULES)]


def start(kinds: Iterable[str]) -> bool:
    """Import the core for servers of these kinds on a worker thread, once per Blender session.
    Returns whether this call started the thread (False: started before, or everything is in)."""
    global _thread
    names = [name for name in modules_for(kinds) if loaded(name) is None]
    with _lock:
        if _thread is not None or not names:
            return False
        _thread = threading.Thread(target=_import_all, args=(names,), name="shotcaller-warmup", daemon=True)
        _thread.start()
        return True


def running() -> bool:
    return _thread is not None and _thread.is_alive()


def finished() -> bool:
    """Whether a warm-up was started and has ended (well or not: see `failure`)."""
    return _thread is not None and not _thread.is_alive()


def failure() -> str | None:
    """What stopped the warm-up ("ImportError: ..."), once it has ended that way; None otherwise."""
    return _failure if finished() else None


def wait(timeout: float | None = None) -> bool:
    """Wait for the thread, if one runs (tests; the main thread never needs to: its own import of a
    module the thread is importing waits for that module only). Returns whether it has finished."""
    thread = _thread
    if thread is not None:
        thread.join(timeout)
    return not running()


class _Pause:
    """A finder that finds nothing: asked first for every import, it pauses the warm-up thread, and
    only that thread, before each module (an import does its whole module under the lock)."""

    def __init__(self, thread_id: int) -> None:
        self.thread_id = thread_id

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if threading.get_ident() == self.thread_id:
            time.sleep(PAUSE_SECONDS)
        return None


def _import_all(names: list[str]) -> None:
    global _failure
    pause = _Pause(threading.get_ident())
    sys.meta_path.insert(0, pause)
    began = time.perf_counter()
    try:
        for name in names:
            importlib.import_module(f"{PACKAGE}.{name}")
        # What is alive now lives as long as Blender (modules, types, schemas): frozen out of later
        # collections here (jobs/collector.py), not by the first session, where collecting the young
        # objects these imports made holds the interpreter lock the Generate's main thread waits for.
        importlib.import_module(f"{PACKAGE}.jobs.collector").freeze_long_lived()
    except Exception as exc:  # the shots waiting for it say so (operators/deferred.py); the console has the traceback
        _failure = f"{type(exc).__name__}: {exc}"
        log.error("Shotcaller could not import its core on the warm-up thread", exc_info=True)
    finally:
        sys.meta_path.remove(pause)
    log.debug("warm-up imported %s in %.0f ms", ", ".join(names), (time.perf_counter() - began) * 1000)
