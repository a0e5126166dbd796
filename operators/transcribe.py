"""Transcribe a sound strip into subtitles: one text strip per stretch of speech.

The sound's file (a packed sound is written to a temporary file first) goes to the transcription
model behind the first enabled LiteLLM server on a worker thread; the segments come back to the
main thread, become cues in scene frames (the strip's position and trim are read then, so moving
the strip meanwhile is fine) and text strips on the first free channel above the sound.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import uuid
from typing import TYPE_CHECKING, Any

import bpy

from ..sequencer import compat
from ..sequencer.timeline import first_free_channel, strip_container
from .language import Refused, error_text, language_request, notify, push_undo, redraw, run_in_background

if TYPE_CHECKING:  # the clients are imported on first use, not when the add-on registers
    from ..backends.litellm.transcribe import Segment, SubtitleCue

log = logging.getLogger(__name__)

TRANSCRIBE_TIMEOUT = 300.0  # a long sound on a CPU Whisper takes a while
SUBTITLE_HEIGHT = 0.055  # font size as a fraction of the frame height
SUBTITLE_Y = 0.06  # the text's baseline, from the bottom of the frame

_tasks: dict[str, str] = {}  # scene name -> the running request's id


def transcribing(scene: Any) -> bool:
    return scene is not None and scene.name in _tasks


def sound_strip(context: Any) -> Any | None:
    """The active strip if it is a sound, else the first selected sound strip."""
    scene = compat.sequencer_scene(context)
    if scene is None or scene.sequence_editor is None:
        return None
    editor = scene.sequence_editor
    active = editor.active_strip
    if active is not None and active.type == "SOUND":
        return active
    return next((s for s in compat.all_strips(editor) if s.select and s.type == "SOUND"), None)


def style_subtitle(strip: Any, scene: Any) -> None:
    """Centred at the bottom of the frame, sized to the render height, outlined to read on any shot."""
    render = scene.render
    height = render.resolution_y * render.resolution_percentage / 100.0
    strip.font_size = max(12, round(height * SUBTITLE_HEIGHT))
    strip.location = (0.5, SUBTITLE_Y)
    strip.wrap_width = 0.9
    if hasattr(strip, "anchor_x"):  # 4.5+
        strip.anchor_x, strip.anchor_y, strip.alignment_x = "CENTER", "BOTTOM", "CENTER"
    else:  # 4.2
        strip.align_x, strip.align_y = "CENTER", "BOTTOM"
    strip.use_outline = True
    strip.use_shadow = False


def place_cues(scene: Any, sound: Any, cues: list[SubtitleCue]) -> tuple[int, int]:
    """Text strips for the cues above `sound`, in its container. Returns (count, channel)."""
    container = strip_container(scene.sequence_editor, sound)  # the editor, or the sound's meta
    first, last = cues[0].frame_start, cues[-1].frame_end
    channel = first_free_channel(container, first, last, sound.channel + 1)
    if channel is None:
        raise Refused(f"No channel above '{sound.name}' is free from frame {first} to {last - 1}.")
    for index, cue in enumerate(cues, start=1):
        strip = compat.new_text_strip(
            container, f"{sound.name[:50]} sub {index}", channel, cue.frame_start, cue.frame_end - cue.frame_start
        )
        strip.text = cue.text
        style_subtitle(strip, scene)
    return len(cues), channel


class SEQUENCER_OT_shotcaller_transcribe(bpy.types.Operator):
    """Transcribe the selected sound strip; its speech becomes text strips (subtitles) above it"""

    bl_idname = "sequencer.shotcaller_transcribe"
    bl_label = "Transcribe to Subtitles"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return sound_strip(context) is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = compat.sequencer_scene(context)
        strip = sound_strip(context)
        writing = scene.shotcaller_writing
        if transcribing(scene):
            self.report({"WARNING"}, "A transcription is already running for this scene.")
            return {"CANCELLED"}
        try:
            request = language_request(context, scene, model_setting="transcription_model", purpose="the sound")
            path, temporary = _sound_file(strip)
        except Refused as exc:
            writing.transcribe_state, writing.transcribe_message = "FAILED", str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        request_id = uuid.uuid4().hex
        _tasks[scene.name] = request_id
        scene_name, strip_name = scene.name, strip.name
        model, secret = request.model, request.secret
        writing.transcribe_state = "NONE"
        writing.transcribe_message = f"Transcribing '{strip_name}' with {model}..."

        def work() -> list[Segment]:  # worker thread: no bpy; it imports the client
            from ..backends.litellm.transcribe import transcribe_file

            return transcribe_file(request.client(), model, path, timeout=TRANSCRIBE_TIMEOUT)

        def done(result: Any, error: BaseException | None) -> None:
            if temporary:
                with contextlib.suppress(OSError):
                    os.remove(path)
            _transcribe_done(scene_name, strip_name, request_id, result, error, secret)

        run_in_background(work, done)
        self.report({"INFO"}, writing.transcribe_message)
        return {"FINISHED"}


def _sound_file(strip: Any) -> tuple[str, bool]:
    """(path, is_temporary): the strip's sound file, or its packed data written to a temporary file."""
    sound = strip.sound
    if sound is None:
        raise Refused(f"'{strip.name}' has no sound data to transcribe.")
    if sound.packed_file is not None:
        suffix = os.path.splitext(bpy.path.basename(sound.filepath))[1] or ".wav"
        handle, path = tempfile.mkstemp(prefix="shotcaller-sound-", suffix=suffix)
        with os.fdopen(handle, "wb") as out:
            out.write(bytes(sound.packed_file.data))
        return path, True
    path = os.path.abspath(bpy.path.abspath(sound.filepath, library=sound.library))
    if not os.path.isfile(path):
        raise Refused(f"The sound file of '{strip.name}' is missing ({path}): relink it, or pack it into the .blend.")
    return path, False


def _transcribe_done(
    scene_name: str, strip_name: str, request_id: str, result: Any, error: BaseException | None, secret: str
) -> None:
    if _tasks.get(scene_name) != request_id:
        return
    del _tasks[scene_name]
    scene = bpy.data.scenes.get(scene_name)
    if scene is None:
        log.warning("the scene '%s' is gone; the transcription is dropped", scene_name)
        return
    writing = scene.shotcaller_writing
    strip = compat.all_strips(scene.sequence_editor).get(strip_name) if scene.sequence_editor else None
    if error is None and strip is None:
        error = Refused(f"The sound strip '{strip_name}' is no longer in the edit; no subtitles were made.")
    if error is not None:
        writing.transcribe_state = "FAILED"
        writing.transcribe_message = f"Transcription failed: {error_text(error, secret)}"
        notify("ERROR", writing.transcribe_message)
        redraw()
        return
    from ..backends.litellm.transcribe import subtitle_cues

    fps = scene.render.fps / scene.render.fps_base
    cues = subtitle_cues(
        list(result),
        fps,
        sound_start_frame=compat.content_start(strip),
        clip_start=compat.left_handle(strip),
        clip_end=compat.right_handle(strip),
    )
    if not cues:
        writing.transcribe_state = "DONE"
        writing.transcribe_message = f"No speech found in '{strip_name}' (within its trimmed range)."
    else:
        try:
            count, channel = place_cues(scene, strip, cues)
        except Refused as exc:
            writing.transcribe_state, writing.transcribe_message = "FAILED", str(exc)
            notify("ERROR", str(exc))
            redraw()
            return
        writing.transcribe_state = "DONE"
        writing.transcribe_message = f"{count} subtitle{'s' if count != 1 else ''} on channel {channel}"
        push_undo("Transcribe to Subtitles")
    notify("INFO", writing.transcribe_message)
    redraw()


CLASSES = (SEQUENCER_OT_shotcaller_transcribe,)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    _tasks.clear()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
