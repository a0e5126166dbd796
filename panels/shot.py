"""Sequencer > Sidebar > Shotcaller: the active shot, its status (every message whole) and its takes.

A selected take strip shows its shot and that take's own record.
"""

from __future__ import annotations

from typing import Any

import bpy

from ..mainthread import previews
from ..sequencer import compat, takes
from .details import region_chars, wrapped

STATUS_ICONS = {
    "NONE": "DOT",
    "QUEUED": "TIME",
    "RUNNING": "PLAY",
    "DONE": "CHECKMARK",
    "FAILED": "ERROR",
    "CANCELLED": "CANCEL",
    "INTERRUPTED": "ERROR",
}


def _active_strip(context: bpy.types.Context):  # type: ignore[no-untyped-def]
    scene = compat.sequencer_scene(context)
    if scene is None or scene.sequence_editor is None:
        return None
    return scene.sequence_editor.active_strip


def take_label(index: int, take: Any) -> str:
    return f"{index + 1}: {take.backend}, {take.template}, seed {take.seed}"


class SEQUENCER_UL_shotcaller_takes(bpy.types.UIList):
    """A shot's takes; clicking one shows it in the edit (the others are muted)."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):  # type: ignore[no-untyped-def]
        seen = index == data.active_take
        row = layout.row(align=True)
        row.label(text=take_label(index, item), icon="HIDE_OFF" if seen else "HIDE_ON")
        row.label(text=item.quality)
        row.operator("sequencer.shotcaller_take_jump", text="", icon="VIEWZOOM", emboss=False).index = index
        row.operator("sequencer.shotcaller_take_reveal", text="", icon="FILEBROWSER", emboss=False).index = index


class SEQUENCER_PT_shotcaller_shot(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Shotcaller"
    bl_label = "Shot"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        row = layout.row(align=True)
        draft = row.operator("sequencer.shotcaller_generate", text="Generate Draft", icon="RENDER_ANIMATION")
        draft.quality = "draft"
        final = row.operator("sequencer.shotcaller_generate", text="Generate Final", icon="RENDER_STILL")
        final.quality = "final"
        layout.operator("sequencer.shotcaller_cancel", icon="CANCEL")

        strip = _active_strip(context)
        if strip is None:
            layout.label(text="Select a strip to make it a shot", icon="INFO")
            return
        width = region_chars(context)
        if strip.shotcaller.take_of:
            strip = self._draw_take_strip(context, strip, width)
            if strip is None:
                return
        shot = strip.shotcaller
        column = layout.column()
        column.prop(shot, "prompt", text="")
        column.prop(shot, "negative_prompt", text="Avoid")
        column.prop(shot, "media")
        seed = column.row(align=True)
        seed.prop(shot, "seed")
        seed.prop(shot, "seed_locked", text="", icon="LOCKED" if shot.seed_locked else "UNLOCKED")
        if shot.media in {"video", "image"}:
            column.prop(shot, "init_image")
        column.prop(shot, "use_scene_resolution")
        if not shot.use_scene_resolution:
            sizes = column.row(align=True)
            sizes.prop(shot, "width")
            sizes.prop(shot, "height")
        column.prop(shot, "backend_pin")
        if shot.media in {"audio", "music"} and not compat.HAS_AUDIO:
            wrapped(column, "This Blender build cannot play sound takes", width, icon="ERROR")
        self._draw_status(strip, width)
        self._draw_takes(shot, width)

    def _draw_take_strip(self, context: bpy.types.Context, strip: Any, width: int) -> Any:
        """The take's own record; returns its shot's strip (None when the shot is gone)."""
        layout = self.layout
        scene = compat.sequencer_scene(context)
        shot_strip, index = takes.shot_of_take_strip(scene, strip)
        if shot_strip is None:
            wrapped(layout, f"'{strip.name}' is a take of a shot that is no longer in the edit", width, icon="ERROR")
            return None
        shot = shot_strip.shotcaller
        box = layout.box()
        if index < 0:
            wrapped(box, f"'{strip.name}' is a take of '{shot_strip.name}'", width, icon="FILE_MOVIE")
            return shot_strip
        take = shot.takes[index]
        seen = "in the edit" if index == shot.active_take else "muted"
        wrapped(box, f"Take {index + 1} of '{shot_strip.name}' ({seen})", width, icon="FILE_MOVIE")
        facts = [f"{take.backend}, {take.template}" + (f", {take.model}" if take.model else "")]
        facts.append(f"{take.quality}, seed {take.seed}, {take.generation_seconds:.1f} s, made {take.created}")
        if take.take_width and take.frame_width:
            facts.append(f"{take.take_width}x{take.take_height} filling a {take.frame_width}x{take.frame_height} frame")
        facts += [take.reason, take.filepath]
        for fact in facts:
            wrapped(box, fact, width)
        if index != shot.active_take:
            box.operator("sequencer.shotcaller_take_use", text="Use This Take", icon="HIDE_OFF").index = index
        return shot_strip

    def _draw_status(self, strip: Any, width: int) -> None:
        shot = strip.shotcaller
        box = self.layout.box()
        row = box.row()
        status_label = shot.bl_rna.properties["status"].enum_items[shot.status].name
        row.label(text=status_label, icon=STATUS_ICONS.get(shot.status, "DOT"))
        if shot.message or shot.routing_reason or shot.candidates:
            row.operator("sequencer.shotcaller_details", text="Details", icon="INFO").shot_id = shot.shot_id
        if shot.status in {"QUEUED", "RUNNING"}:
            box.progress(factor=shot.progress, type="BAR", text=f"{shot.progress:.0%}")
            preview = previews.icon_id(shot.shot_id)
            if preview:
                box.template_icon(icon_value=preview, scale=8.0)
        wrapped(box, shot.message, width)
        wrapped(box, shot.routing_reason, width, icon="FORWARD")

    def _draw_takes(self, shot: Any, width: int) -> None:
        layout = self.layout
        if not len(shot.takes):
            return
        wrapped(layout, f"Takes ({len(shot.takes)}): the one with the eye is in the edit", width)
        row = layout.row()
        row.template_list("SEQUENCER_UL_shotcaller_takes", "", shot, "takes", shot, "active_take", rows=3)
        side = row.column(align=True)
        side.operator("sequencer.shotcaller_take_step", text="", icon="TRIA_UP").direction = "PREVIOUS"
        side.operator("sequencer.shotcaller_take_step", text="", icon="TRIA_DOWN").direction = "NEXT"
        side.separator()
        side.operator("sequencer.shotcaller_take_jump", text="", icon="VIEWZOOM").index = shot.active_take
        side.operator("sequencer.shotcaller_take_reveal", text="", icon="FILEBROWSER").index = shot.active_take
        side.operator("sequencer.shotcaller_take_delete", text="", icon="TRASH").index = shot.active_take
        again = layout.row(align=True)
        again.operator("sequencer.shotcaller_redo", text="Redo", icon="FILE_REFRESH")
        again.operator("sequencer.shotcaller_variation", text="Variation", icon="MOD_NOISE")


CLASSES = (SEQUENCER_UL_shotcaller_takes, SEQUENCER_PT_shotcaller_shot)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
