"""Writing tools in the Sequencer: enhance a shot's prompt, and turn a script into shots.

Both ask a language model behind the first enabled LiteLLM server of the preferences. The request
runs on a worker thread (background.submit) with plain inputs only; its answer is applied on the
main thread when the pump drains (the UI timer, or `pump.tick()` headless).

What the panel shows lives in `scene.shotcaller_writing` (registered here). Whether a request is
running is kept in this module, not in the scene, so a .blend saved mid-request never shows a
request that nothing will finish. The LiteLLM key stays in the preferences: it is handed to the
client, and never written into a property, a report or a log line.

This module also holds what transcription shares with the writing tools (operators/transcribe.py):
the safety checks, user-facing error text and redraw helpers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

from .. import background, pump
from ..backends.base import BackendError, Cancelled
from ..backends.litellm.client import LiteLLMClient
from ..backends.urls import UnsafeURL, check_service_url
from ..preferences import current_settings, language_service
from ..sequencer import compat
from ..session import current_session
from ..submission import ensure_shot_ids, find_shot_strip, is_take_strip, routing_policy, spec_from_strip
from ..writing import ShotDraft, enhance_prompt, script_to_shots, timeline

log = logging.getLogger(__name__)

WRITING_TIMEOUT = 120.0  # seconds of silence a local model may take before it starts answering
MAX_CHANNEL = 128
MESSAGE_LIMIT = 2000
REDRAW_SECONDS = 0.25
MEDIA_COLORS = {  # colour strips made from a shot list, by media kind
    "video": (0.22, 0.33, 0.52),
    "image": (0.55, 0.45, 0.22),
    "audio": (0.25, 0.48, 0.32),
    "music": (0.45, 0.28, 0.50),
}
FALLBACK_TARGETS = {
    "video": "video generation model",
    "image": "image generation model",
    "audio": "sound effects model",
    "music": "music generation model",
}
SOURCE_ITEMS = [
    ("TEXT", "Text", "A text datablock (Text Editor) holds the script"),
    ("PASTE", "Paste", "Paste the script into the field below"),
]
STATE_ITEMS = [
    ("NONE", "None", ""),
    ("READY", "Ready", "A proposal waits for Apply or Discard"),
    ("DONE", "Done", ""),
    ("FAILED", "Failed", ""),
    ("CANCELLED", "Cancelled", ""),
]


# ------------------------------------------------------------------------------------ state


class SHOTCALLER_PG_writing(bpy.types.PropertyGroup):
    """What the writing tools and transcription show in the panel (saved with the scene; no keys)."""

    # Enhance prompt: the proposal for one shot, found again by its shot id.
    enhance_shot_id: StringProperty(name="Shot", options={"HIDDEN"})
    enhance_strip: StringProperty(name="Strip", description="The strip the proposal is for")
    enhance_target: StringProperty(name="Target model", description="The model the prompt was rewritten for")
    enhance_old: StringProperty(name="Old prompt")
    enhance_new: StringProperty(name="New prompt", description="The rewritten prompt; Apply puts it on the shot")
    enhance_state: EnumProperty(name="State", items=STATE_ITEMS, default="NONE")
    enhance_message: StringProperty(name="Message")

    # Script to shots.
    script_source: EnumProperty(name="Source", items=SOURCE_ITEMS, default="TEXT")
    script_text: StringProperty(name="Text", description="The text datablock holding the script")
    script_paste: StringProperty(name="Script", description="The script, pasted")
    script_channel: IntProperty(
        name="Channel", default=0, min=0, max=MAX_CHANNEL, description="Channel for the new shots; 0: the first free"
    )
    script_use_current_frame: BoolProperty(
        name="Start at current frame", default=True, description="Place the first shot at the current frame"
    )
    script_frame_start: IntProperty(name="Start frame", default=1, description="Where the first shot starts")
    script_state: EnumProperty(name="State", items=STATE_ITEMS, default="NONE")
    script_message: StringProperty(name="Message")
    script_chars: IntProperty(name="Characters", description="Characters the model wrote for the last shot list")

    # Transcription (operators/transcribe.py).
    transcribe_state: EnumProperty(name="State", items=STATE_ITEMS, default="NONE")
    transcribe_message: StringProperty(name="Message")


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
_enhance_tasks: dict[str, str] = {}  # scene name -> the running enhance request's id


def script_task(scene: Any) -> ScriptTask | None:
    return _script_tasks.get(scene.name) if scene is not None else None


def enhance_running(scene: Any) -> bool:
    return scene is not None and scene.name in _enhance_tasks


# ------------------------------------------------------------------------------------ shared helpers


class Refused(Exception):
    """The request may not or cannot be sent; the message says what to change."""


@dataclass(frozen=True)
class LanguageRequest:
    client: LiteLLMClient
    model: str
    secret: str = field(default="", repr=False)  # only to scrub it out of messages


def language_request(context: Any, scene: Any, *, model_setting: str, purpose: str) -> LanguageRequest:
    """A client for the first enabled LiteLLM server, after every safety check; Refused otherwise.

    `model_setting` is "writing_model" or "transcription_model"; `purpose` completes "... may send
    {purpose} to a cloud provider".
    """
    settings = current_settings(context)
    service = language_service(settings)
    if service is None:
        raise Refused(
            "No LiteLLM server is set up: add one in Preferences > Add-ons > Shotcaller > Servers"
            " (the LiteLLM button), with its URL and key, and keep it enabled."
        )
    model = str(getattr(settings, model_setting, "") or "").strip()
    if not model:
        label = "Writing model" if model_setting == "writing_model" else "Transcription model"
        raise Refused(f"No model is set: fill in '{label}' in Preferences > Add-ons > Shotcaller.")
    try:
        url = check_service_url(service.url, online_access=bool(bpy.app.online_access), service="the LiteLLM server")
    except UnsafeURL as exc:
        raise Refused(_sentence(str(exc))) from None
    if not service.is_local:
        project = scene.shotcaller_project
        if project.force_local:
            raise Refused(
                f"This project is set to Force Local, and the LiteLLM server at {url} may send {purpose} to a"
                " cloud provider. If its models run on your own machines, set its 'Where' to Local in"
                " Preferences > Add-ons > Shotcaller; otherwise untick Force Local in Shotcaller > Project."
            )
        if not project.allow_cloud:
            raise Refused(
                f"The LiteLLM server at {url} may send {purpose} to a cloud provider, and this project does not"
                " allow cloud. Tick Allow Cloud in Shotcaller > Project, or, if its models run on your own"
                " machines, set its 'Where' to Local in Preferences > Add-ons > Shotcaller."
            )
    return LanguageRequest(LiteLLMClient(url, service.api_key, timeout=WRITING_TIMEOUT), model, service.api_key)


def error_text(error: BaseException, secret: str = "") -> str:
    """One readable line for the panel and the report, never carrying the key."""
    if isinstance(error, BackendError):
        text = error.message.strip()
        if error.hint:
            text = f"{text}{'' if text.endswith(('.', '!', '?')) else '.'} {error.hint}"
    elif isinstance(error, Refused):
        text = str(error)
    else:
        text = f"unexpected {type(error).__name__}: {error}"
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return " ".join(text.split())[:MESSAGE_LIMIT]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def notify(level: str, message: str) -> None:
    """A report from the main thread after an operator has finished (an answer arrived later).

    Always logged; in the UI it also goes to Blender's status bar and Info log. Headless, a
    report of ERROR raises in the caller, so only the log line is written there.
    """
    log.log(logging.ERROR if level == "ERROR" else logging.INFO, "%s", message)
    if bpy.app.background:
        return
    with contextlib.suppress(RuntimeError):  # an ERROR report raises once it is shown: expected
        bpy.ops.sequencer.shotcaller_report(level=level, message=message)


def push_undo(message: str) -> None:
    """Make what an answer changed its own undo step.

    Answers are applied from a timer, outside any operator: without a step of their own, undoing
    the next operation would also take them away. Headless Blender keeps no undo stack.
    """
    if bpy.app.background:
        return
    with contextlib.suppress(RuntimeError):
        bpy.ops.ed.undo_push(message=message)


def redraw() -> None:
    window_manager = getattr(bpy.context, "window_manager", None)
    if window_manager is None:
        return
    for window in window_manager.windows:
        for area in window.screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()


def _redraw_while_busy() -> float | None:
    """UI timer: redraws the sidebar while a shot list streams in, for the live character count."""
    redraw()
    return REDRAW_SECONDS if _script_tasks else None


def start_redraw_timer() -> None:
    if bpy.app.background:  # timers never fire headless
        return
    if not bpy.app.timers.is_registered(_redraw_while_busy):
        bpy.app.timers.register(_redraw_while_busy, first_interval=REDRAW_SECONDS)


def first_free_channel(container: Any, frame_start: int, frame_end: int, lowest: int = 1) -> int | None:
    """The lowest channel >= `lowest` with no strip between frame_start and frame_end (exclusive)."""
    busy: set[int] = set()
    for strip in compat.top_strips(container):
        if strip.frame_final_start < frame_end and strip.frame_final_end > frame_start:
            busy.add(strip.channel)
    for channel in range(max(1, lowest), MAX_CHANNEL + 1):
        if channel not in busy:
            return channel
    return None


def channel_is_free(container: Any, channel: int, frame_start: int, frame_end: int) -> bool:
    return first_free_channel(container, frame_start, frame_end, channel) == channel


def active_shot_strip(context: Any) -> Any | None:
    scene = compat.sequencer_scene(context)
    if scene is None or scene.sequence_editor is None:
        return None
    strip = scene.sequence_editor.active_strip
    if strip is None or is_take_strip(strip):
        return None
    return strip


# ------------------------------------------------------------------------------------ enhance prompt


def route_target(scene: Any, strip: Any) -> str:
    """The model the shot's route would use now (when backends are running), else its media kind."""
    session = current_session()
    if session is not None:
        for quality in ("final", "draft"):
            try:
                spec = spec_from_strip(scene, strip, quality)
                chosen = session.scheduler.route_preview(spec, routing_policy(scene)).chosen
            except Exception:  # a preview is a nicety: never let it stop the request
                log.debug("no route preview for %s", strip.name, exc_info=True)
                continue
            if chosen is not None:
                offer = chosen.offer
                return offer.label or offer.model or offer.name
    return FALLBACK_TARGETS.get(strip.shotcaller.media, "video generation model")


class SEQUENCER_OT_shotcaller_enhance_prompt(bpy.types.Operator):
    """Rewrite the active shot's prompt for the model its route will use; review it, then Apply or Discard"""

    bl_idname = "sequencer.shotcaller_enhance_prompt"
    bl_label = "Enhance Prompt"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return active_shot_strip(context) is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = compat.sequencer_scene(context)
        strip = active_shot_strip(context)
        writing = scene.shotcaller_writing
        shot = strip.shotcaller
        if not shot.prompt.strip():
            self.report({"ERROR"}, f"'{strip.name}' has no prompt yet: write what the shot should show first.")
            return {"CANCELLED"}
        try:
            request = language_request(context, scene, model_setting="writing_model", purpose="the prompt")
        except Refused as exc:
            writing.enhance_state, writing.enhance_message = "FAILED", str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        ensure_shot_ids(scene)
        target = route_target(scene, strip)
        prompt, negative, media = shot.prompt, shot.negative_prompt, shot.media
        request_id = uuid.uuid4().hex
        writing.enhance_shot_id, writing.enhance_strip = shot.shot_id, strip.name
        writing.enhance_target, writing.enhance_old, writing.enhance_new = target, prompt, ""
        writing.enhance_state = "NONE"
        writing.enhance_message = f"Rewriting the prompt of '{strip.name}' for {target}..."
        _enhance_tasks[scene.name] = request_id
        scene_name, client, model = scene.name, request.client, request.model

        def work() -> str:  # worker thread: no bpy
            return enhance_prompt(client, model, prompt, target, media=media, negative_prompt=negative)

        def done(result: Any, error: BaseException | None) -> None:
            _enhance_done(scene_name, request_id, result, error, request.secret)

        background.submit(work, done)
        pump.ensure_timer()
        self.report({"INFO"}, writing.enhance_message)
        return {"FINISHED"}


def _enhance_done(scene_name: str, request_id: str, result: Any, error: BaseException | None, secret: str) -> None:
    if _enhance_tasks.get(scene_name) != request_id:
        return  # superseded by a newer request (or the add-on was reloaded)
    del _enhance_tasks[scene_name]
    scene = bpy.data.scenes.get(scene_name)
    if scene is None:
        log.warning("the scene '%s' is gone; the enhanced prompt is dropped", scene_name)
        return
    writing = scene.shotcaller_writing
    if error is not None:
        writing.enhance_state = "FAILED"
        writing.enhance_message = f"Enhance prompt failed: {error_text(error, secret)}"
        notify("ERROR", writing.enhance_message)
    else:
        writing.enhance_new = str(result)
        writing.enhance_state = "READY"
        writing.enhance_message = f"New prompt for '{writing.enhance_strip}': Apply or Discard"
        push_undo("Enhanced prompt proposal")
    redraw()


class SEQUENCER_OT_shotcaller_enhance_apply(bpy.types.Operator):
    """Put the enhanced prompt on its shot (one undo step: Ctrl+Z brings the old prompt back)"""

    bl_idname = "sequencer.shotcaller_enhance_apply"
    bl_label = "Apply Prompt"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        scene = compat.sequencer_scene(context)
        return scene is not None and scene.shotcaller_writing.enhance_state == "READY"

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = compat.sequencer_scene(context)
        writing = scene.shotcaller_writing
        strip = find_shot_strip(scene, writing.enhance_shot_id)
        if strip is None:
            self.report(
                {"ERROR"}, f"The shot '{writing.enhance_strip}' is no longer in the edit; discard the proposal."
            )
            return {"CANCELLED"}
        strip.shotcaller.prompt = writing.enhance_new
        writing.enhance_state, writing.enhance_new = "DONE", ""
        writing.enhance_message = f"Applied the new prompt to '{strip.name}' (Ctrl+Z restores the old one)"
        self.report({"INFO"}, writing.enhance_message)
        return {"FINISHED"}


class SEQUENCER_OT_shotcaller_enhance_discard(bpy.types.Operator):
    """Drop the enhanced prompt; the shot keeps its prompt"""

    bl_idname = "sequencer.shotcaller_enhance_discard"
    bl_label = "Discard Prompt"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        scene = compat.sequencer_scene(context)
        return scene is not None and scene.shotcaller_writing.enhance_state in {"READY", "FAILED"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        writing = compat.sequencer_scene(context).shotcaller_writing
        writing.enhance_state, writing.enhance_new, writing.enhance_message = "NONE", "", ""
        return {"FINISHED"}


# ------------------------------------------------------------------------------------ script to shots


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
        client, model, secret = request.client, request.model, request.secret

        def work() -> list[ShotDraft]:  # worker thread: no bpy
            return script_to_shots(client, model, script, fps, on_text=task.add_text, cancel=task.cancel)

        def done(result: Any, error: BaseException | None) -> None:
            _script_done(task, result, error, frame_start, channel, secret)

        background.submit(work, done)
        pump.ensure_timer()
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
            raise Refused(f"{_sentence(where)} is empty: write or paste the script first.")
        return text, where


def _script_done(
    task: ScriptTask, result: Any, error: BaseException | None, frame_start: int, channel: int, secret: str
) -> None:
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
    """Colour strips for the drafts, one after another from frame_start. Returns what was done."""
    if not drafts:
        raise Refused("The model returned no shots; nothing was made.")
    if scene.sequence_editor is None:
        scene.sequence_editor_create()
    editor = scene.sequence_editor
    placed = timeline(drafts, frame_start)
    first, last = placed[0][1], placed[-1][2]
    note = ""
    if channel and channel_is_free(editor, channel, first, last):
        chosen: int | None = channel
    else:
        chosen = first_free_channel(editor, first, last, channel or 1)
        if channel and chosen is not None:
            note = f" (channel {channel} is taken there)"
    if chosen is None:
        raise Refused(f"No channel is free from frame {first} to {last - 1}; nothing was made.")
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


class SEQUENCER_OT_shotcaller_report(bpy.types.Operator):
    """Show a message from Shotcaller in the status bar"""

    bl_idname = "sequencer.shotcaller_report"
    bl_label = "Shotcaller Message"
    bl_options = {"INTERNAL"}

    level: EnumProperty(items=[("INFO", "Info", ""), ("WARNING", "Warning", ""), ("ERROR", "Error", "")])
    message: StringProperty()

    def execute(self, context: bpy.types.Context) -> set[str]:
        self.report({self.level}, self.message)
        return {"FINISHED"}


# ------------------------------------------------------------------------------------ registration


CLASSES = (
    SHOTCALLER_PG_writing,
    SEQUENCER_OT_shotcaller_enhance_prompt,
    SEQUENCER_OT_shotcaller_enhance_apply,
    SEQUENCER_OT_shotcaller_enhance_discard,
    SEQUENCER_OT_shotcaller_script_to_shots,
    SEQUENCER_OT_shotcaller_script_cancel,
    SEQUENCER_OT_shotcaller_report,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.shotcaller_writing = PointerProperty(type=SHOTCALLER_PG_writing)


def unregister() -> None:
    # A timer left registered makes Blender 4.2 crash and 4.5 hang at exit.
    if bpy.app.timers.is_registered(_redraw_while_busy):
        bpy.app.timers.unregister(_redraw_while_busy)
    for task in _script_tasks.values():
        task.cancel.set()
    _script_tasks.clear()
    _enhance_tasks.clear()
    if hasattr(bpy.types.Scene, "shotcaller_writing"):
        del bpy.types.Scene.shotcaller_writing
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
