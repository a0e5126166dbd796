"""Shotcaller's data in the .blend: shot settings and takes on every strip, and per scene the
project's routing wishes and what the writing tools and transcription show in the sidebar."""

from __future__ import annotations

import secrets

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ..sequencer import compat
from ..sequencer.timeline import MAX_CHANNEL
from .packed import packed_float, packed_int, packed_storage, packed_string

MEDIA_ITEMS = [
    ("video", "Video", "A moving shot"),
    ("image", "Image", "A still frame held over the shot"),
    ("audio", "Audio", "Sound effects or ambience"),
    ("music", "Music", "A music cue"),
]
QUALITY_ITEMS = [
    ("draft", "Draft", "Fast, to judge the edit"),
    ("final", "Final", "The best the backends can do"),
]
STATUS_ITEMS = [
    ("NONE", "Not generated", ""),
    ("QUEUED", "Queued", ""),
    ("RUNNING", "Generating", ""),
    ("DONE", "Done", ""),
    ("FAILED", "Failed", ""),
    ("CANCELLED", "Cancelled", ""),
    ("INTERRUPTED", "Interrupted", ""),
]
ACTIVE_STATUSES = {"QUEUED", "RUNNING"}
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


def _seed_typed(shot: SHOTCALLER_PG_shot, _context: bpy.types.Context) -> None:
    """A seed someone sets by hand is one they want kept: typing it locks it."""
    if not shot.seed_locked:
        shot.seed_locked = True


def random_seed() -> int:
    """A new seed for a shot (Blender's integer properties hold up to 2**31 - 1)."""
    return secrets.randbelow(2**31 - 1)


def roll_seed(shot: SHOTCALLER_PG_shot, seed: int) -> None:
    """Set a seed Shotcaller picked, without locking it: the stored value is written directly, so
    the property's update (which locks a typed seed) does not run. A property with an update also
    makes Blender re-evaluate the whole scene (Blender 5: tens of ms at 2000 strips), and submitting
    1000 shots rolls 1000 seeds."""
    shot["seed"] = seed


def _active_take_changed(shot: SHOTCALLER_PG_shot, _context: bpy.types.Context) -> None:
    from ..sequencer import takes

    takes.show_active_take(shot)


def _shot_list_clicked(view: SHOTCALLER_PG_shot_list, _context: bpy.types.Context) -> None:
    """A click on a row of the Shots list selects that shot's strip and makes it the active one."""
    scene = view.id_data
    strips = compat.all_strips(scene.sequence_editor) if scene.sequence_editor else []
    if 0 <= view.active_index < len(strips):
        from ..sequencer import takes

        takes.select_only(scene, strips[view.active_index])


class SHOTCALLER_PG_take(bpy.types.PropertyGroup):
    take_id: StringProperty(name="Take ID")
    filepath: StringProperty(name="File", subtype="FILE_PATH", options=compat.BLEND_RELATIVE_PATH)
    strip_name: StringProperty(name="Strip", description="The strip showing this take on the timeline")
    record_path: StringProperty(name="Record", subtype="FILE_PATH", options=compat.BLEND_RELATIVE_PATH)
    # The details below are one stored JSON string (settings/packed.py: every stored value of every
    # strip is copied on each scene update), read and written as ordinary properties.
    packed: packed_storage(description="The take's details, as JSON")
    media: packed_string("media", name="Media")
    quality: packed_string("quality", name="Quality")
    backend: packed_string("backend", name="Backend")
    template: packed_string("template", name="Template")
    model: packed_string("model", name="Model")
    seed: packed_int("seed", name="Seed")
    reason: packed_string("reason", name="Why this backend")
    parameters: packed_string("parameters", name="Parameters", description="The exact parameters sent, as JSON")
    generation_seconds: packed_float("generation_seconds", name="Generation time", unit="TIME_ABSOLUTE")
    cost: packed_float("cost", name="Cost", min=0.0, description="What the take cost, as its service reported it")
    cost_source: packed_string("cost_source", name="Cost from", description="Where the cost comes from")
    created: packed_string("created", name="Created")
    # The take's own picture size and the frame it fills (cropped to fill, never letterboxed).
    take_width: packed_int("take_width", name="Take width")
    take_height: packed_int("take_height", name="Take height")
    frame_width: packed_int("frame_width", name="Frame width")
    frame_height: packed_int("frame_height", name="Frame height")


class SHOTCALLER_PG_shot(bpy.types.PropertyGroup):
    shot_id: StringProperty(name="Shot ID", description="Stable identity of the shot; survives renames")
    prompt: StringProperty(name="Prompt", description="What the shot should show")
    negative_prompt: StringProperty(name="Negative prompt", description="What the shot must not show")
    media: EnumProperty(name="Media", items=MEDIA_ITEMS, default="video")
    seed: IntProperty(name="Seed", min=0, default=0, update=_seed_typed)
    seed_locked: BoolProperty(
        name="Lock seed",
        default=False,
        description="Keep this seed for every Generate; unlocked, each Generate picks a new random seed",
    )
    use_scene_resolution: BoolProperty(
        name="Scene resolution", default=True, description="Generate at the scene's output resolution"
    )
    width: IntProperty(name="Width", min=16, max=8192, default=832)
    height: IntProperty(name="Height", min=16, max=8192, default=480)
    init_image: StringProperty(
        name="Init image", subtype="FILE_PATH", description="Start the shot from this picture (image-to-video)"
    )
    backend_pin: StringProperty(
        name="Pin backend", description="Only use this backend instance or kind (empty: let Shotcaller choose)"
    )
    take_of: StringProperty(name="Take of", description="Set on take strips: the shot ID they were made for")
    take_id: StringProperty(name="Take ID", description="Set on take strips: which of the shot's takes they show")
    status: EnumProperty(name="Status", items=STATUS_ITEMS, default="NONE")
    progress: FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
    message: StringProperty(name="Message")
    user_color_tag: StringProperty(name="Own colour tag", description="The strip's colour tag before status colours")
    job_id: StringProperty(name="Job")
    # Where the last job went and why, packed in one stored value (settings/packed.py). What every
    # event rewrites or the drain reads (progress, message, the job) stays apart: a packed value is
    # a Python call to read and a JSON string to write, ten times a plain one's cost.
    packed: packed_storage(description="The last job's routing and what to do about its failure, as JSON")
    routing_reason: packed_string("routing_reason", name="Routing")
    hint: packed_string("hint", name="Hint", description="What to do about the last failure")
    backend_used: packed_string("backend_used", name="Backend", description="Where the last job went")
    candidates: packed_string("candidates", name="Alternatives", description="Every candidate considered, as JSON")
    last_quality: EnumProperty(name="Last quality", items=QUALITY_ITEMS, default="draft")
    takes: CollectionProperty(type=SHOTCALLER_PG_take)
    active_take: IntProperty(
        name="Active take", default=-1, update=_active_take_changed, description="The take seen in the edit"
    )


SHOT_FILTER_ITEMS = [
    ("ALL", "All", "Every shot of the scene"),
    ("FAILED", "Failed", "Shots whose last generation failed or was interrupted"),
    ("RUNNING", "Running", "Shots queued or generating"),
    ("NOT_GENERATED", "Not generated", "Shots without a take yet"),
]


class SHOTCALLER_PG_shot_list(bpy.types.PropertyGroup):
    """The Shots panel's filter and cursor (saved with the scene)."""

    show: EnumProperty(name="Show", items=SHOT_FILTER_ITEMS, default="ALL")
    active_index: IntProperty(name="Shot", default=-1, update=_shot_list_clicked)


class SHOTCALLER_PG_project(bpy.types.PropertyGroup):
    """Routing wishes for this project (saved with the scene)."""

    allow_cloud: BoolProperty(
        name="Allow cloud",
        default=False,
        description="Let shots go to cloud backends (also needs Blender's online access)",
    )
    force_local: BoolProperty(
        name="Force local", default=False, description="Never use the cloud for this project, whatever else is set"
    )
    budget: FloatProperty(name="Budget", default=0.0, min=0.0, description="Money this project may spend; 0: no limit")
    spent: FloatProperty(
        name="Spent", default=0.0, min=0.0, description="Money this project's takes cost, as the services reported it"
    )
    spent_by_backend: StringProperty(name="Spent per backend", description="JSON: backend kind -> money spent")


class SHOTCALLER_PG_writing(bpy.types.PropertyGroup):
    """What the writing tools and transcription show in the panel (saved with the scene; no keys).

    Whether a request is running is kept by the operators, not here, so a .blend saved mid-request
    never shows a request that nothing will finish.
    """

    # Enhance prompt (operators/enhance.py): the proposal for one shot, found again by its shot id.
    enhance_shot_id: StringProperty(name="Shot", options={"HIDDEN"})
    enhance_strip: StringProperty(name="Strip", description="The strip the proposal is for")
    enhance_target: StringProperty(name="Target model", description="The model the prompt was rewritten for")
    enhance_old: StringProperty(name="Old prompt")
    enhance_new: StringProperty(name="New prompt", description="The rewritten prompt; Apply puts it on the shot")
    enhance_state: EnumProperty(name="State", items=STATE_ITEMS, default="NONE")
    enhance_message: StringProperty(name="Message")

    # Script to shots (operators/script.py).
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


CLASSES = (
    SHOTCALLER_PG_take,
    SHOTCALLER_PG_shot,
    SHOTCALLER_PG_shot_list,
    SHOTCALLER_PG_project,
    SHOTCALLER_PG_writing,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    compat.strip_type().shotcaller = PointerProperty(type=SHOTCALLER_PG_shot)
    bpy.types.Scene.shotcaller_project = PointerProperty(type=SHOTCALLER_PG_project)
    bpy.types.Scene.shotcaller_shots = PointerProperty(type=SHOTCALLER_PG_shot_list)
    bpy.types.Scene.shotcaller_writing = PointerProperty(type=SHOTCALLER_PG_writing)


def unregister() -> None:
    if hasattr(bpy.types.Scene, "shotcaller_writing"):
        del bpy.types.Scene.shotcaller_writing
    if hasattr(bpy.types.Scene, "shotcaller_shots"):
        del bpy.types.Scene.shotcaller_shots
    if hasattr(bpy.types.Scene, "shotcaller_project"):
        del bpy.types.Scene.shotcaller_project
    strip_type = compat.strip_type()
    if hasattr(strip_type, "shotcaller"):
        del strip_type.shotcaller
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
