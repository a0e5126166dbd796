"""Shot settings and takes, stored on every strip (saved in the .blend)."""

from __future__ import annotations

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

from .sequencer import compat

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


class SHOTCALLER_PG_take(bpy.types.PropertyGroup):
    take_id: StringProperty(name="Take ID")
    filepath: StringProperty(name="File", subtype="FILE_PATH")
    strip_name: StringProperty(name="Strip", description="The strip showing this take on the timeline")
    media: StringProperty(name="Media")
    quality: StringProperty(name="Quality")
    backend: StringProperty(name="Backend")
    template: StringProperty(name="Template")
    model: StringProperty(name="Model")
    seed: IntProperty(name="Seed")
    reason: StringProperty(name="Why this backend")
    parameters: StringProperty(name="Parameters", description="The exact parameters sent, as JSON")
    record_path: StringProperty(name="Record", subtype="FILE_PATH")
    generation_seconds: FloatProperty(name="Generation time", unit="TIME_ABSOLUTE")
    created: StringProperty(name="Created")


class SHOTCALLER_PG_shot(bpy.types.PropertyGroup):
    shot_id: StringProperty(name="Shot ID", description="Stable identity of the shot; survives renames")
    prompt: StringProperty(name="Prompt", description="What the shot should show")
    negative_prompt: StringProperty(name="Negative prompt", description="What the shot must not show")
    media: EnumProperty(name="Media", items=MEDIA_ITEMS, default="video")
    seed: IntProperty(name="Seed", min=0, default=0)
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
    status: EnumProperty(name="Status", items=STATUS_ITEMS, default="NONE")
    progress: FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
    message: StringProperty(name="Message")
    routing_reason: StringProperty(name="Routing")
    job_id: StringProperty(name="Job")
    takes: CollectionProperty(type=SHOTCALLER_PG_take)
    active_take: IntProperty(name="Active take", default=-1)


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


CLASSES = (SHOTCALLER_PG_take, SHOTCALLER_PG_shot, SHOTCALLER_PG_project)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    compat.strip_type().shotcaller = PointerProperty(type=SHOTCALLER_PG_shot)
    bpy.types.Scene.shotcaller_project = PointerProperty(type=SHOTCALLER_PG_project)


def unregister() -> None:
    if hasattr(bpy.types.Scene, "shotcaller_project"):
        del bpy.types.Scene.shotcaller_project
    strip_type = compat.strip_type()
    if hasattr(strip_type, "shotcaller"):
        del strip_type.shotcaller
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
