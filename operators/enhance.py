"""Enhance a shot's prompt: the writing model rewrites it for the model the shot's route will use.

The proposal (old and new prompt) waits in `scene.shotcaller_writing` for Apply, one undo step
that puts it on the shot, or Discard. Whether a request is running is kept in this module, not in
the scene, so a .blend saved mid-request never shows a request that nothing will finish.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import bpy

from ..addon.lazy import current_session
from ..sequencer import compat
from ..sequencer.index import ensure_shot_ids, find_shot_strip, is_take_strip
from .language import Refused, error_text, language_request, notify, push_undo, redraw, run_in_background

log = logging.getLogger(__name__)

FALLBACK_TARGETS = {
    "video": "video generation model",
    "image": "image generation model",
    "audio": "sound effects model",
    "music": "music generation model",
}

_enhance_tasks: dict[str, str] = {}  # scene name -> the running enhance request's id


def enhance_running(scene: Any) -> bool:
    return scene is not None and scene.name in _enhance_tasks


def active_shot_strip(context: Any) -> Any | None:
    scene = compat.sequencer_scene(context)
    if scene is None or scene.sequence_editor is None:
        return None
    strip = scene.sequence_editor.active_strip
    if strip is None or is_take_strip(strip):
        return None
    return strip


def route_target(scene: Any, strip: Any) -> str:
    """The model the shot's route would use now (when backends are running), else its media kind."""
    session = current_session()
    if session is not None:
        from ..mainthread.submission import routing_policy, spec_from_strip

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
        scene_name = scene.name

        def work() -> str:  # worker thread: no bpy; it imports the writing tools and the client
            from ..writing import enhance_prompt

            client = request.client()
            return enhance_prompt(client, request.model, prompt, target, media=media, negative_prompt=negative)

        def done(result: Any, error: BaseException | None) -> None:
            _enhance_done(scene_name, request_id, result, error, request.secret)

        run_in_background(work, done)
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


CLASSES = (
    SEQUENCER_OT_shotcaller_enhance_prompt,
    SEQUENCER_OT_shotcaller_enhance_apply,
    SEQUENCER_OT_shotcaller_enhance_discard,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    _enhance_tasks.clear()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
