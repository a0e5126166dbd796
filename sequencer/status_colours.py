"""A shot strip's status shown on the timeline through its colour tag (a preference turns it off).

The strip's own tag is kept on the shot the first time Shotcaller paints it, and put back when
the preference is off or the shot has no status to show.
"""

from __future__ import annotations

from typing import Any

import bpy

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


def show(strip: Any, on: bool | None = None) -> None:
    """Paint `strip`'s colour tag for its shot's status, or give it back its own tag."""
    if not hasattr(strip, "color_tag"):
        return
    shot = strip.shotcaller
    tag = STATUS_TAGS.get(shot.status) if (enabled() if on is None else on) else None
    if tag is None:
        if shot.user_color_tag:
            strip.color_tag, shot.user_color_tag = shot.user_color_tag, ""
        return
    if not shot.user_color_tag:
        shot.user_color_tag = strip.color_tag
    if strip.color_tag != tag:
        strip.color_tag = tag


def show_all(on: bool) -> None:
    """Repaint (or unpaint) every shot of every scene: the preference changed."""
    from . import compat

    for scene in bpy.data.scenes:
        if scene.sequence_editor is None:
            continue
        for strip in compat.all_strips(scene.sequence_editor):
            if strip.shotcaller.shot_id and not strip.shotcaller.take_of:
                show(strip, on)
