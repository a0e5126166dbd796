"""Repainting the sequencer areas, and only them: the rest of Blender need not repaint. Its own module
so the writing tools can repaint without importing the pump (and the core behind it)."""

from __future__ import annotations

import bpy


def redraw_sequencers() -> None:
    window_manager = getattr(bpy.context, "window_manager", None)
    if window_manager is None:
        return
    for window in window_manager.windows:
        for area in window.screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()
