"""Sequencer > Sidebar > Shotcaller > Shots: every shot of the scene at a glance, with a filter and
the buttons that act on many shots (generate the missing ones, retry the failed ones, cancel all)."""

from __future__ import annotations

from typing import Any

import bpy

from ..operators.shots import RETRY_STATUSES, is_shot
from ..sequencer import compat
from ..settings.properties import ACTIVE_STATUSES
from .details import region_chars, wrapped
from .shot import STATUS_ICONS


def listed(strip: Any, show: str) -> bool:
    """Whether the Shots list shows `strip` under the filter `show` (ALL, FAILED, RUNNING, NOT_GENERATED)."""
    if not is_shot(strip):
        return False
    shot = strip.shotcaller
    if show == "FAILED":
        return shot.status in RETRY_STATUSES
    if show == "RUNNING":
        return shot.status in ACTIVE_STATUSES
    if show == "NOT_GENERATED":
        return not len(shot.takes)
    return True


def row_texts(strip: Any) -> tuple[str, str, str]:
    """(name, what is happening, where it went) for one row of the list."""
    shot = strip.shotcaller
    status = shot.bl_rna.properties["status"].enum_items[shot.status].name
    if shot.status in ACTIVE_STATUSES:
        status = f"{status} {shot.progress:.0%}"
    count = len(shot.takes)
    takes = f"{count} take{'s' if count != 1 else ''}"
    return strip.name, f"{status}, {takes}", shot.backend_used.split(" with ")[0]


class SEQUENCER_UL_shotcaller_shots(bpy.types.UIList):
    """The scene's shots (its strips, filtered to shots), in timeline order."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):  # type: ignore[no-untyped-def]
        shot = item.shotcaller
        name, state, where = row_texts(item)
        row = layout.row(align=True)
        select = row.operator(
            "sequencer.shotcaller_shot_select", text=name, icon=STATUS_ICONS.get(shot.status, "DOT"), emboss=False
        )
        select.shot_id = shot.shot_id
        row.label(text=state)
        if where:
            row.label(text=where)
        if shot.status in RETRY_STATUSES or shot.message:
            row.operator("sequencer.shotcaller_details", text="", icon="INFO", emboss=False).shot_id = shot.shot_id

    def filter_items(self, context, data, propname):  # type: ignore[no-untyped-def]
        strips = getattr(data, propname)
        scene = compat.sequencer_scene(context)
        show = scene.shotcaller_shots.show if scene is not None else "ALL"
        flags = [self.bitflag_filter_item if listed(strip, show) else 0 for strip in strips]
        by_time = sorted(range(len(strips)), key=lambda i: (compat.left_handle(strips[i]), strips[i].channel))
        order = [0] * len(strips)
        for position, index in enumerate(by_time):
            order[index] = position
        return flags, order


class SEQUENCER_PT_shotcaller_shots(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Shotcaller"
    bl_label = "Shots"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        scene = compat.sequencer_scene(context)
        if scene is None or scene.sequence_editor is None:
            layout.label(text="This scene has no sequencer strips", icon="INFO")
            return
        strips = [s for s in compat.all_strips(scene.sequence_editor) if is_shot(s)]
        failed = sum(1 for s in strips if s.shotcaller.status in RETRY_STATUSES)
        running = sum(1 for s in strips if s.shotcaller.status in ACTIVE_STATUSES)
        missing = sum(1 for s in strips if not len(s.shotcaller.takes))
        counts = [
            f"{n} {what}" for n, what in ((failed, "failed"), (running, "running"), (missing, "not generated")) if n
        ]
        summary = f"{len(strips)} shot{'s' if len(strips) != 1 else ''}" + (f": {', '.join(counts)}" if counts else "")
        wrapped(layout, summary, region_chars(context))
        layout.prop(scene.shotcaller_shots, "show", expand=True)
        collection = "strips_all" if hasattr(scene.sequence_editor, "strips_all") else "sequences_all"
        layout.template_list(
            "SEQUENCER_UL_shotcaller_shots",
            "",
            scene.sequence_editor,
            collection,
            scene.shotcaller_shots,
            "active_index",
            rows=5,
        )
        buttons = layout.row(align=True)
        buttons.operator("sequencer.shotcaller_generate_missing", text="Generate Missing", icon="RENDER_ANIMATION")
        buttons.operator("sequencer.shotcaller_retry_failed", text="Retry Failed", icon="FILE_REFRESH")
        buttons.operator("sequencer.shotcaller_cancel_all", text="Cancel All", icon="CANCEL")


CLASSES = (SEQUENCER_UL_shotcaller_shots, SEQUENCER_PT_shotcaller_shots)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
