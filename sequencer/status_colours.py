"""A shot strip's status shown on the timeline through its colour tag (a preference turns it off).

The strip's own tag is kept on the shot the first time Shotcaller paints it, and put back when
the preference is off or the shot has no status to show.

Changing a strip's colour makes Blender re-evaluate the scene, and from Blender 5 that costs
about 12 to 25 ms at 2000 strips (measured: 1 ms at 500), more than a 60 fps frame. So while jobs
run, status changes are painted together (`show_later`, then `paint_due`): at most once per
PAINT_SECONDS, or at once with a change that re-evaluates the scene anyway (a take placed), and
all of them when the work is done.
"""

from __future__ import annotations

import time
from typing import Any

import bpy

PAINT_SECONDS = 1.0
_due: dict[tuple[str, str], None] = {}  # (scene name, shot id) whose colour waits for the next paint
_painted_at = 0.0

# Blender's colour tags: 01 red, 02 orange, 03 yellow, 04 green, 05 blue, 06 violet, 07 pink, 08 brown, 09 grey.
STATUS_TAGS = {
    "QUEUED": "COLOR_03",
    "RUNNING": "COLOR_02",
    "DONE": "COLOR_04",
    "FAILED": "COLOR_01",
    "CANCELLED": "COLOR_09",
    "INTERRUPTED": "COLOR_01",
}


def enabled() -> bool:
    from ..settings.preferences import ADDON_PACKAGE

    preferences = bpy.context.preferences
    addon = preferences.addons.get(ADDON_PACKAGE) if preferences is not None else None
    prefs = getattr(addon, "preferences", None)
    return bool(getattr(prefs, "status_colours", True))


def show(strip: Any, on: bool | None = None, status: str | None = None, shot: Any = None) -> None:
    """Paint `strip`'s colour tag for its shot's status (or `status`), or give it back its own tag.
    `shot`: the strip's `shotcaller`, when the caller has it already."""
    if not hasattr(strip, "color_tag"):
        return
    if shot is None:
        shot = strip.shotcaller
    tag = STATUS_TAGS.get(status or shot.status) if (enabled() if on is None else on) else None
    own = shot.user_color_tag
    if tag is None:
        if own:
            strip.color_tag, shot.user_color_tag = own, ""
        return
    current = strip.color_tag
    if not own:
        shot.user_color_tag = current
    if current != tag:
        strip.color_tag = tag


def show_later(scene: Any, shot_id: str) -> None:
    """Paint the colour of the shot `shot_id` of `scene` at the next `paint_due` (by id: its strip
    may be renamed before)."""
    if shot_id:
        _due[(scene.name, shot_id)] = None


def show_now(scene: Any, strips: list[tuple[Any, Any]], status: str) -> None:
    """Paint these shot strips (each with its `shotcaller`) for `status` now, and drop their waiting
    paints: cancel-all paints a thousand strips grey in the one scene update the operator causes
    anyway, so the events that follow find them painted and cause none."""
    on, scene_name = enabled(), scene.name
    for strip, shot in strips:
        if _due:
            _due.pop((scene_name, shot.shot_id), None)
        show(strip, on, status, shot)


def waiting() -> bool:
    return bool(_due)


def paint_due(force: bool = False) -> int:
    """Paint the colours waiting, if PAINT_SECONDS have passed since the last paint or `force`."""
    global _painted_at
    now = time.monotonic()
    if not _due or (not force and now - _painted_at < PAINT_SECONDS):
        return 0
    from . import index

    due = list(_due)
    _due.clear()
    _painted_at = now
    on, painted = enabled(), 0
    for scene_name, shot_id in due:
        strip = index.find_shot_strip(bpy.data.scenes.get(scene_name), shot_id)
        if strip is not None:  # deleted since, or another file is open: nothing to paint
            show(strip, on)
            painted += 1
    return painted


def forget_due() -> None:
    """Another file was opened: the shots waiting to be painted were in the one that was closed."""
    _due.clear()


def show_all(on: bool) -> None:
    """Repaint (or unpaint) every shot of every scene: the preference changed."""
    from . import compat

    for scene in bpy.data.scenes:
        if scene.sequence_editor is None:
            continue
        for strip in compat.all_strips(scene.sequence_editor):
            if strip.shotcaller.shot_id and not strip.shotcaller.take_of:
                show(strip, on)
