"""Short background tasks that are not shot generation (writing tools, transcription).

A task runs on a worker thread with plain inputs; its result (or error) waits
in a queue until the main thread's pump calls the task's `on_done`, which is
the only place it may touch bpy. No bpy here.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

Done = Callable[[Any, BaseException | None], None]  # (result, error): runs on the main thread

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="shotcaller-task")
_finished: queue.Queue[tuple[Done, Any, BaseException | None]] = queue.Queue()
_running = 0
_lock = threading.Lock()


def submit(work: Callable[[], Any], on_done: Done) -> None:
    global _running
    with _lock:
        _running += 1

    def run() -> None:
        global _running
        try:
            result, error = work(), None
        except BaseException as exc:  # handed to on_done: the main thread decides what the user sees
            result, error = None, exc
        _finished.put((on_done, result, error))
        with _lock:
            _running -= 1

    _pool.submit(run)


def drain() -> int:
    """Call on_done for every finished task. Main thread only."""
    applied = 0
    while True:
        try:
            on_done, result, error = _finished.get_nowait()
        except queue.Empty:
            return applied
        try:
            on_done(result, error)
        except Exception:
            log.exception("a background task's result could not be applied")
        applied += 1


def has_work() -> bool:
    with _lock:
        return _running > 0 or not _finished.empty()
