"""Shot id -> strip in constant time, for the main thread's event drain.

Every scheduler event names its shot by id; scanning every strip for it made each event cost
O(strips). This index keeps, per scene, shot id -> strip name, and Blender finds a strip by
name through its own lookup table. An entry is trusted only once the named strip is seen to
still carry that id (and not to be a take), so a rename, an undo, a file load or a deleted
strip never yields the wrong strip: a stale entry costs one rescan.

An id that is not in a fresh index is reported missing without a rescan until the scene's
strip count changes, ids are (re)assigned (`invalidate`), or an undo, redo or file load
happens (the handlers below), so a deleted shot's late events do not rescan the scene each.

`ensure_shot_ids` gives shots their ids (and copies fresh ones) and leaves the index current; it is
here, with no import of the core, because the writing tools call it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import bpy
from bpy.app.handlers import persistent

from . import compat


@dataclass
class _SceneIndex:
    strip_count: int
    names: dict[str, str] = field(default_factory=dict)  # shot id -> strip name


_indexes: dict[str, _SceneIndex] = {}
rebuilds = 0  # how many full scans so far (tests count them; there is no timing in tests)


def is_take_strip(strip: Any) -> bool:
    return bool(strip.shotcaller.take_of)


def _is_shot(strip: Any, shot_id: str) -> bool:
    shot = strip.shotcaller
    return shot.shot_id == shot_id and not shot.take_of


def _rebuild(scene: Any, strips: Any) -> _SceneIndex:
    global rebuilds
    rebuilds += 1
    index = _SceneIndex(len(strips))
    for strip in strips:
        shot = strip.shotcaller
        if shot.shot_id and not shot.take_of:
            index.names.setdefault(shot.shot_id, strip.name)  # a copy not yet given its own id: the first wins
    _indexes[scene.name_full] = index
    return index


def find_shot_strip(scene: Any, shot_id: str) -> Any | None:
    """The shot strip (not a take) carrying `shot_id` in `scene`, or None when it is gone."""
    if scene is None or scene.sequence_editor is None or not shot_id:
        return None
    strips = compat.all_strips(scene.sequence_editor)
    index = _indexes.get(scene.name_full)
    if index is None:
        return _checked(strips, _rebuild(scene, strips), shot_id)
    strip = _checked(strips, index, shot_id)
    if strip is not None:
        return strip
    # A stale entry (renamed, undone, another strip took the name), or strips added or removed
    # since the scan (counting them is cheap next to reading each one): scan once more.
    if shot_id in index.names or len(strips) != index.strip_count:
        return _checked(strips, _rebuild(scene, strips), shot_id)
    return None  # not in an index that is still current: the shot is gone


def find_shot_strips(scene: Any, shot_ids: list[str]) -> list[Any]:
    """The shot strips carrying these ids (the ones still in `scene`): one index check each, as
    `find_shot_strip`, and one rescan at most for all the ids it does not vouch for."""
    if scene is None or scene.sequence_editor is None:
        return []
    strips = compat.all_strips(scene.sequence_editor)
    index = _indexes.get(scene.name_full)
    found, doubtful = [], []
    for shot_id in shot_ids:
        strip = _checked(strips, index, shot_id) if index is not None else None
        if strip is not None:
            found.append(strip)
        elif shot_id:
            doubtful.append(shot_id)
    if doubtful:
        found += [strip for strip in (find_shot_strip(scene, shot_id) for shot_id in doubtful) if strip is not None]
    return found


def _checked(strips: Any, index: _SceneIndex, shot_id: str) -> Any | None:
    name = index.names.get(shot_id)
    strip = strips.get(name) if name is not None else None
    return strip if strip is not None and _is_shot(strip, shot_id) else None


def invalidate(scene: Any | None = None) -> None:
    """Forget the index of `scene` (every scene's when None): ids or strips changed under it."""
    if scene is None:
        _indexes.clear()
    else:
        _indexes.pop(scene.name_full, None)


def prime(scene: Any, names: dict[str, str], strip_count: int) -> None:
    """The index from a scan someone else just made of every shot strip (shot id -> strip name)."""
    _indexes[scene.name_full] = _SceneIndex(strip_count, dict(names))


def ensure_shot_ids(scene: Any) -> None:
    """Give every shot a stable id, and a fresh one to copies (Shift+D copies the id too). The scan
    also leaves the shot id -> strip index current, so the first events after a submit find their
    strips without another scan of the scene."""
    seen: dict[str, str] = {}  # shot id -> strip name
    fresh: list[Any] = []
    strips = compat.all_strips(scene.sequence_editor)
    for strip in sorted(strips, key=lambda s: s.name):
        shot = strip.shotcaller
        if shot.take_of:
            continue
        shot_id = shot.shot_id
        if not shot_id or shot_id in seen:
            if shot_id:  # a copy: it starts its own history
                shot.takes.clear()
                shot.active_take = -1
                shot.status, shot.message, shot.job_id = "NONE", "", ""
            fresh.append(strip)
            continue
        seen[shot_id] = strip.name
    if fresh:
        # The same 128 random bits per id as new_shot_id (uuid4), read in one system call for all of
        # them: a thousand new strips cost one read, not a thousand.
        pool = os.urandom(16 * len(fresh)).hex()
        for n, strip in enumerate(fresh):
            strip.shotcaller.shot_id = pool[32 * n : 32 * n + 32]
            seen[strip.shotcaller.shot_id] = strip.name
    prime(scene, seen, len(strips))


def take_added(scene: Any, strips_before: int) -> None:
    """Strips were added that carry no shot id (a take, a segmented take's meta strip and its
    segments): an index that was current before stays current, with no rescan of the scene."""
    index = _indexes.get(scene.name_full)
    if index is not None and index.strip_count == strips_before:
        index.strip_count = len(compat.all_strips(scene.sequence_editor))


@persistent
def _forget_all(*_args: Any) -> None:
    _indexes.clear()


_HANDLERS = ("undo_post", "redo_post", "load_post")


def register() -> None:
    for name in _HANDLERS:
        handlers = getattr(bpy.app.handlers, name)
        if _forget_all not in handlers:
            handlers.append(_forget_all)


def unregister() -> None:
    for name in _HANDLERS:
        handlers = getattr(bpy.app.handlers, name)
        if _forget_all in handlers:
            handlers.remove(_forget_all)
    _indexes.clear()
