"""Script to shots: the writing model turns a script into a shot list, placed as colour-strip shots.

The shot list streams in on a worker thread; the sidebar shows how many characters have arrived
(a UI timer redraws it meanwhile) and can cancel it. When it is complete, the shots are placed one
after another on one channel, each with its prompt, as one undo step. Whether a shot list is
being written is kept in this module, not in the scene (see operators/enhance.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import bpy
from bpy.props import IntProperty, StringProperty

from ..sequencer import compat
from ..sequencer.timeline import MAX_CHANNEL, first_free_channel
from .language import Refused, error_text, language_request, notify, push_undo, redraw, run_in_background, sentence

if TYPE_CHECKING:  # the core is imported on first use, not when the add-on registers
    from ..writing import ShotDraft

log = logging.getLogger(__name__)

REDRAW_SECONDS = 0.25
MEDIA_COLORS = {  # colour strips made from a shot list, by media kind
    "video": (0.22, 0.33, 0.52),
    "image": (0.55, 0.45, 0.22),
    "audio": (0.25, 0.48, 0.32),
    "music": (0.45, 0.28, 0.50),
}


@dataclass
class ScriptTask:
    """A shot list being written. `chars` is updated by the worker thread and read by the panel."""

    scene_name: str
    cancel: threading.Event = field(default_factory=threading.Event)
    chars: int = 0
    started: float = field(default_factory=time.monotonic)

    def add_text(self, piece: str) -> None:  # worker thread: plain Python only
        self.chars += len(piece)


_script_tasks: dict[str, ScriptTask] = {}  # scene name -> the running shot list request


def script_task(scene: Any) -> ScriptTask | None:
    return _script_tasks.get(scene.name) if scene is not None else None


def _redraw_while_busy() -> float | None:
    """UI timer: redraws the sidebar while a shot list streams in, for the live character count."""
    redraw()
    return REDRAW_SECONDS if _script_tasks else None


def start_redraw_timer() -> None:
    if bpy.app.background:  # timers never fire headless
        return
    if not bpy.app.timers.is_registered(_redraw_while_busy):
        bpy.app.timers.register(_redraw_while_busy, first_interval=REDRAW_SECONDS)


class SEQUENCER_OT_shotcaller_script_to_shots(bpy.types.Operator):
    """Ask the writing model for a shot list from a script, and place it as colour-strip shots with prompts"""

    bl_idname = "sequencer.shotcaller_script_to_shots"
    bl_label = "Script to Shots"
    bl_options = {"REGISTER"}

    # Each one, when set, overrides the panel's setting (scene.shotcaller_writing).
    text_name: StringProperty(name="Text", description="The text datablock holding the script")
    text: StringProperty(name="Script", description="The script itself (instead of a text datablock)")
    channel: IntProperty(name="Channel", default=0, min=0, max=MAX_CHANNEL, description="0: the first free")
    frame_start: IntProperty(name="Start frame", description="Default: the current frame")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        scene = compat.sequencer_scene(context)
        return scene is not None and script_task(scene) is None

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = compat.sequencer_scene(context)
        writing = scene.shotcaller_writing
        try:
            script, source = self._script(writing)
            request = language_request(context, scene, model_setting="writing_model", purpose="the script")
        except Refused as exc:
            writing.script_state, writing.script_message = "FAILED", str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if self.properties.is_property_set("frame_start"):
            frame_start = self.frame_start
        elif writing.script_use_current_frame:
            frame_start = scene.frame_current
        else:
            frame_start = writing.script_frame_start
        channel = self.channel if self.properties.is_property_set("channel") else writing.script_channel
        fps = scene.render.fps / scene.render.fps_base
        task = ScriptTask(scene.name)
        _script_tasks[scene.name] = task
        writing.script_state, writing.script_chars = "NONE", 0
        writing.script_message = f"Writing a shot list from {source}..."
        secret = request.secret

        def work() -> list[ShotDraft]:  # worker thread: no bpy; it imports the writing tools and the client
            from ..writing import script_to_shots

            client = request.client()
            return script_to_shots(client, request.model, script, fps, on_text=task.add_text, cancel=task.cancel)

        def done(result: Any, error: BaseException | None) -> None:
            _script_done(task, result, error, frame_start, channel, secret)

        run_in_background(work, done)
        start_redraw_timer()
        self.report({"INFO"}, writing.script_message)
        return {"FINISHED"}

    def _script(self, writing: Any) -> tuple[str, str]:
        """The script's text and where it came from; Refused when there is none."""
        if self.properties.is_property_set("text"):
            source, text, name = "PASTE", self.text, ""
        elif self.properties.is_property_set("text_name"):
            source, text, name = "TEXT", "", self.text_name
        else:
            source, text, name = writing.script_source, writing.script_paste, writing.script_text
        if source == "TEXT":
            if not name.strip():
                raise Refused("Pick the text datablock that holds the script (or paste the script instead).")
            datablock = bpy.data.texts.get(name)
            if datablock is None:
                raise Refused(f"There is no text named '{name}': pick one from the list, or paste the script.")
            text = datablock.as_string()
            where = f"the text '{name}'"
        else:
            where = "the pasted script"
        if not text.strip():
            raise Refused(f"{sentence(where)} is empty: write or paste the script first.")
        return text, where


def _script_done(
    task: ScriptTask, result: Any, error: BaseException | None, frame_start: int, channel: int, secret: str
) -> None:
    from ..backends.base import Cancelled

    if _script_tasks.get(task.scene_name) is task:
        del _script_tasks[task.scene_name]
    scene = bpy.data.scenes.get(task.scene_name)
    if scene is None:
        log.warning("the scene '%s' is gone; the shot list is dropped", task.scene_name)
        return
    writing = scene.shotcaller_writing
    writing.script_chars = task.chars
    if isinstance(error, Cancelled) or (error is None and task.cancel.is_set()):
        writing.script_state, writing.script_message = "CANCELLED", "Cancelled: no shots were made."
    elif error is not None:
        writing.script_state = "FAILED"
        writing.script_message = f"Script to shots failed, no shots were made: {error_text(error, secret)}"
        notify("ERROR", writing.script_message)
    else:
        try:
            writing.script_message = place_drafts(scene, list(result), frame_start, channel)
            writing.script_state = "DONE"
        except Refused as exc:
            writing.script_state, writing.script_message = "FAILED", str(exc)
            notify("ERROR", writing.script_message)
        else:
            push_undo("Script to Shots")
            notify("INFO", writing.script_message)
    redraw()


def place_drafts(scene: Any, drafts: list[ShotDraft], frame_start: int, channel: int) -> str:
    """Colour strips for the drafts, one after another from frame_start. Returns what was done.

    On `channel` if it is free over all of them (0: the first free one); else the first free
    channel above it, and the message says so.
    """
    from ..sequencer.index import ensure_shot_ids
    from ..writing import timeline  # imported already, by the worker that wrote the drafts

    if not drafts:
        raise Refused("The model returned no shots; nothing was made.")
    if scene.sequence_editor is None:
        scene.sequence_editor_create()
    editor = scene.sequence_editor
    placed = timeline(drafts, frame_start)
    first, last = placed[0][1], placed[-1][2]
    chosen = first_free_channel(editor, first, last, channel or 1)
    if chosen is None:
        raise Refused(f"No channel is free from frame {first} to {last - 1}; nothing was made.")
    note = f" (channel {channel} is taken there)" if channel and chosen != channel else ""
    for strip in compat.all_strips(editor):
        strip.select = False
    made = []
    for draft, start, end in placed:
        strip = compat.new_color_strip(editor, draft.name, chosen, start, end - start)
        strip.color = MEDIA_COLORS.get(draft.media.value, MEDIA_COLORS["video"])
        shot = strip.shotcaller
        shot.prompt, shot.negative_prompt, shot.media = draft.prompt, draft.negative_prompt, draft.media.value
        strip.select = True
        made.append(strip)
    editor.active_strip = made[0]
    ensure_shot_ids(scene)
    if last - 1 > scene.frame_end:
        scene.frame_end = last - 1
    count = len(made)
    return f"{count} shot{'s' if count != 1 else ''} on channel {chosen}{note}, frames {first} to {last - 1}"


class SEQUENCER_OT_shotcaller_script_cancel(bpy.types.Operator):
    """Stop writing the shot list; nothing is placed"""

    bl_idname = "sequencer.shotcaller_script_cancel"
    bl_label = "Cancel Shot List"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return script_task(compat.sequencer_scene(context)) is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        task = script_task(compat.sequencer_scene(context))
        if task is not None:
            task.cancel.set()
        return {"FINISHED"}


CLASSES = (SEQUENCER_OT_shotcaller_script_to_shots, SEQUENCER_OT_shotcaller_script_cancel)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    # A timer left registered makes Blender 4.2 crash and 4.5 hang at exit.
    if bpy.app.timers.is_registered(_redraw_while_busy):
        bpy.app.timers.unregister(_redraw_while_busy)
    for task in _script_tasks.values():
        task.cancel.set()
    _script_tasks.clear()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
