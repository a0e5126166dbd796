"""Sequencer > Sidebar > Shotcaller: the active strip's shot, its status and its takes."""

from __future__ import annotations

import bpy

from .. import previews
from ..sequencer import compat

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
        shot = strip.shotcaller
        if shot.take_of:
            layout.label(text=f"'{strip.name}' is a take", icon="FILE_MOVIE")
            return
        column = layout.column()
        column.prop(shot, "prompt", text="")
        column.prop(shot, "negative_prompt", text="Avoid")
        column.prop(shot, "media")
        column.prop(shot, "seed")
        if shot.media in {"video", "image"}:
            column.prop(shot, "init_image")
        column.prop(shot, "use_scene_resolution")
        if not shot.use_scene_resolution:
            sizes = column.row(align=True)
            sizes.prop(shot, "width")
            sizes.prop(shot, "height")
        column.prop(shot, "backend_pin")
        if shot.media in {"audio", "music"} and not compat.HAS_AUDIO:
            column.label(text="This Blender build cannot play sound takes", icon="ERROR")

        box = layout.box()
        status_label = shot.bl_rna.properties["status"].enum_items[shot.status].name
        box.label(text=status_label, icon=STATUS_ICONS.get(shot.status, "DOT"))
        if shot.status in {"QUEUED", "RUNNING"}:
            box.progress(factor=shot.progress, type="BAR", text=f"{shot.progress:.0%}")
            preview = previews.icon_id(shot.shot_id)
            if preview:
                box.template_icon(icon_value=preview, scale=8.0)
        if shot.message:
            box.label(text=shot.message)
        if shot.routing_reason:
            box.label(text=shot.routing_reason, icon="FORWARD")

        if len(shot.takes):
            takes = layout.box()
            takes.label(text=f"Takes ({len(shot.takes)})")
            for index, take in enumerate(shot.takes):
                icon = "RADIOBUT_ON" if index == shot.active_take else "RADIOBUT_OFF"
                takes.label(text=f"{index + 1}: {take.backend}, {take.template}, seed {take.seed}", icon=icon)


CLASSES = (SEQUENCER_PT_shotcaller_shot,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
