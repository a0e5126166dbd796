"""Live previews of running shots, shown as an image on the shot's panel.

Backends report small PNG or JPEG frames while they work. The main thread never writes or
decodes one: `offer()` hands the newest frame of a shot to a writer thread (which never touches
bpy) that writes it to Blender's session temp folder under a fresh name. At the end of a drain
`swap_ready()` loads written files into the preview collection, at most one per shot, and only
for shots a panel drew lately (`icon_id()` records that); Blender decodes the file itself when it
draws the icon. Headless nothing is drawn, so nothing is swapped in (frames are still written).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

import bpy
import bpy.utils.previews

log = logging.getLogger(__name__)

SEEN_SECONDS = 2.0  # a shot whose preview a panel drew this recently counts as visible
_KEEP_LOADED = 2  # files per shot kept on disk: the one shown and the one before (Blender may still read it)

_collection: bpy.utils.previews.ImagePreviewCollection | None = None
_lock = threading.Lock()
_wake = threading.Condition(_lock)
_incoming: dict[str, tuple[bytes, str, str]] = {}  # shot id -> (image, format, folder), newest only
_ready: dict[str, str] = {}  # shot id -> written file not yet shown
_busy = False  # the writer is writing (flush waits for it)
_writer: threading.Thread | None = None
_stop = False
_seen: dict[str, float] = {}  # shot id -> when a panel last asked for its preview
_shown: dict[str, list[str]] = {}  # shot id -> files loaded, oldest first
_serial = 0
swaps = 0  # previews swapped in so far (tests count them)


def _previews() -> bpy.utils.previews.ImagePreviewCollection:
    global _collection
    if _collection is None:
        _collection = bpy.utils.previews.new()
    return _collection


def _folder() -> str:
    return os.path.join(bpy.app.tempdir or os.path.expanduser("~"), "shotcaller_previews")


def offer(shot_id: str, image: bytes, image_format: str = "png") -> None:
    """Queue a shot's newest frame for writing (constant time; an older unwritten frame is dropped)."""
    offer_many({shot_id: (image, image_format)})


def offer_many(frames: dict[str, tuple[bytes, str]]) -> None:
    """Queue the newest frame of several shots with one lock and one wake-up of the writer (a drain's
    frames all at once: every wake-up is a thread that wants the interpreter back)."""
    global _writer, _stop
    if not frames:
        return
    folder = _folder()
    with _lock:
        for shot_id, (image, image_format) in frames.items():
            _incoming[shot_id] = (image, image_format, folder)
        if _writer is None or not _writer.is_alive():
            _stop = False
            _writer = threading.Thread(target=_write_loop, name="shotcaller-previews", daemon=True)
            _writer.start()
        _wake.notify()


def _write_loop() -> None:
    global _busy, _serial
    while True:
        with _lock:
            while not _incoming and not _stop:
                _wake.wait()
            if _stop:
                return
            batch = list(_incoming.items())
            _incoming.clear()
            _busy = True
        written: dict[str, str] = {}
        for shot_id, (image, image_format, folder) in batch:
            _serial += 1
            extension = "jpg" if image_format == "jpeg" else "png"
            path = os.path.join(folder, f"{shot_id}-{_serial}.{extension}")
            try:
                os.makedirs(folder, exist_ok=True)
                with open(path + ".part", "wb") as handle:
                    handle.write(image)
                os.replace(path + ".part", path)  # Blender never sees a half-written file
            except OSError as exc:
                log.warning("cannot write the preview %s: %s", path, exc)
                continue
            written[shot_id] = path
        superseded = []
        with _lock:
            for shot_id, path in written.items():
                older = _ready.get(shot_id)
                _ready[shot_id] = path
                if older:
                    superseded.append(older)
            _busy = False
            _wake.notify_all()
        for path in superseded:  # outside the lock: the main thread may be waiting for it
            _remove(path)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def flush(timeout: float = 5.0) -> bool:
    """Wait until every offered frame is written (tests, and before reading `ready_path`)."""
    deadline = time.monotonic() + timeout
    with _lock:
        while _incoming or _busy:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _wake.wait(left)
    return True


def swap_ready(now: float | None = None) -> int:
    """Main thread, once per drain: show each visible shot's newest written frame. Returns how many."""
    global swaps
    if not _ready:
        return 0
    now = time.monotonic() if now is None else now
    with _lock:
        visible = [shot_id for shot_id in _ready if now - _seen.get(shot_id, -SEEN_SECONDS) < SEEN_SECONDS]
        paths = [(shot_id, _ready.pop(shot_id)) for shot_id in visible]
    collection = _previews() if paths else None
    for shot_id, path in paths:
        assert collection is not None
        if shot_id in collection:
            collection.pop(shot_id)  # a loaded preview is cached by key: drop it to see the new frame
        collection.load(shot_id, path, "IMAGE")
        shown = _shown.setdefault(shot_id, [])
        shown.append(path)
        while len(shown) > _KEEP_LOADED:
            _remove(shown.pop(0))
    swaps += len(paths)
    return len(paths)


def ready_path(shot_id: str) -> str | None:
    """The newest written frame of a shot, shown or not yet."""
    with _lock:
        path = _ready.get(shot_id)
    if path is None and _shown.get(shot_id):
        path = _shown[shot_id][-1]
    return path


def has_preview(shot_id: str) -> bool:
    return _collection is not None and shot_id in _collection


def icon_id(shot_id: str) -> int:
    """The panel's icon for the preview (marks the shot visible); 0 without a UI (no icons headless)."""
    _seen[shot_id] = time.monotonic()
    if _collection is None or shot_id not in _collection:
        return 0
    return _collection[shot_id].icon_id


def forget(shot_id: str) -> None:
    with _lock:
        _incoming.pop(shot_id, None)
        pending = _ready.pop(shot_id, None)
    if pending:
        _remove(pending)
    _seen.pop(shot_id, None)
    if _collection is not None and shot_id in _collection:
        _collection.pop(shot_id)


def clear() -> None:
    """Stop the writer and drop every preview (unregister: no thread may outlive the add-on)."""
    global _collection, _writer, _stop
    with _lock:
        _stop = True
        _incoming.clear()
        _wake.notify_all()
        writer, _writer = _writer, None
    if writer is not None:
        writer.join(timeout=2.0)
    with _lock:
        _ready.clear()
    _seen.clear()
    _shown.clear()
    if _collection is not None:
        bpy.utils.previews.remove(_collection)
        _collection = None
