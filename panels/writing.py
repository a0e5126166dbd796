"""Sequencer > Sidebar > Shotcaller: the writing tools (enhance prompt, script to shots) and subtitles."""

from __future__ import annotations

from typing import Any

import bpy

from ..operators import enhance, script, transcribe
from ..sequencer import compat
from .details import region_chars
from .details import wrapped as wrapped_to

STATE_ICONS = {"READY": "QUESTION", "DONE": "CHECKMARK", "FAILED": "ERROR", "CANCELLED": "CANCEL"}


def wrapped(layout: Any, context: Any, text: str, *, icon: str = "NONE") -> None:
    """Long text whole, as many labels as it needs at the sidebar's width and the UI scale (the
    panels' shared helper: nothing cut off, long words split, paragraphs kept)."""
    wrapped_to(layout, text, region_chars(context), icon=icon)


def _message(layout: Any, context: Any, state: str, message: str) -> None:
    if message:
        wrapped(layout, context, message, icon=STATE_ICONS.get(state, "INFO"))


class SEQUENCER_PT_shotcaller_writing(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Shotcaller"
    bl_label = "Writing"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        scene = compat.sequencer_scene(context)
        return scene is not None and hasattr(scene, "shotcaller_writing")

    def draw(self, context: bpy.types.Context) -> None:
        scene = compat.sequencer_scene(context)
        state = scene.shotcaller_writing
        self._draw_enhance(context, scene, state)
        self._draw_script(context, scene, state)

    def _draw_enhance(self, context: Any, scene: Any, state: Any) -> None:
        box = self.layout.box()
        box.label(text="Enhance Prompt", icon="SHADERFX")
        strip = enhance.active_shot_strip(context)
        if enhance.enhance_running(scene):
            wrapped(box, context, state.enhance_message, icon="TIME")
            return
        if state.enhance_state == "READY":
            box.label(text=f"'{state.enhance_strip}', for {state.enhance_target}")
            box.label(text="Old:")
            wrapped(box.box(), context, state.enhance_old)
            box.label(text="New:")
            wrapped(box.box(), context, state.enhance_new)
            row = box.row(align=True)
            row.operator("sequencer.shotcaller_enhance_apply", text="Apply", icon="CHECKMARK")
            row.operator("sequencer.shotcaller_enhance_discard", text="Discard", icon="X")
            return
        if strip is None:
            box.label(text="Select a shot to enhance its prompt", icon="INFO")
        else:
            box.operator("sequencer.shotcaller_enhance_prompt", text=f"Enhance '{strip.name}'", icon="SHADERFX")
        _message(box, context, state.enhance_state, state.enhance_message)
        if state.enhance_state == "FAILED":
            box.operator("sequencer.shotcaller_enhance_discard", text="Dismiss", icon="X")

    def _draw_script(self, context: Any, scene: Any, state: Any) -> None:
        box = self.layout.box()
        box.label(text="Script to Shots", icon="TEXT")
        task = script.script_task(scene)
        if task is not None:
            box.label(text=f"Writing the shot list: {task.chars:,} characters", icon="TIME")
            box.operator("sequencer.shotcaller_script_cancel", text="Cancel", icon="CANCEL")
            return
        box.row().prop(state, "script_source", expand=True)
        if state.script_source == "TEXT":
            box.prop_search(state, "script_text", bpy.data, "texts", text="")
        else:
            box.prop(state, "script_paste", text="")
        column = box.column(align=True)
        column.prop(state, "script_channel", text="Channel (0: first free)")
        column.prop(state, "script_use_current_frame")
        row = column.row()
        row.enabled = not state.script_use_current_frame
        row.prop(state, "script_frame_start")
        box.operator("sequencer.shotcaller_script_to_shots", icon="SEQ_STRIP_DUPLICATE")
        _message(box, context, state.script_state, state.script_message)


class SEQUENCER_PT_shotcaller_subtitles(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Shotcaller"
    bl_label = "Subtitles"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        scene = compat.sequencer_scene(context)
        return scene is not None and hasattr(scene, "shotcaller_writing")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        scene = compat.sequencer_scene(context)
        state = scene.shotcaller_writing
        if not compat.HAS_AUDIO:
            layout.label(text="This Blender has no audio support", icon="ERROR")
        if transcribe.transcribing(scene):
            wrapped(layout, context, state.transcribe_message, icon="TIME")
            return
        strip = transcribe.sound_strip(context)
        if strip is None:
            layout.label(text="Select a sound strip to transcribe", icon="INFO")
        layout.operator("sequencer.shotcaller_transcribe", icon="SPEAKER")
        _message(layout, context, state.transcribe_state, state.transcribe_message)


CLASSES = (SEQUENCER_PT_shotcaller_writing, SEQUENCER_PT_shotcaller_subtitles)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
