"""Every difference between Blender 4.2 LTS and 5.3 that Shotcaller touches, in one place.

4.2 names strips `Sequence` and keeps them in `sequences`; 4.5 has both names;
5.0 has only `Strip`/`strips`, renamed `frame_end` to `length` for effects, and
gives the sequencer its own scene in the context. 5.1 deprecates the strip timing properties
(`frame_final_start`, `frame_final_end`, `frame_final_duration`, `frame_start`, `frame_duration`;
removal announced for 6.0) for `left_handle`, `right_handle`, `duration`, `content_start` and
`content_duration`: every strip timing read or write goes through the functions below, which use
the new names wherever they exist.
"""

from __future__ import annotations

from array import array
from typing import Any

import bpy

VERSION: tuple[int, int, int] = tuple(bpy.app.version)  # type: ignore[assignment]
# The 4.2 bpy wheel on PyPI is built without Audaspace, so sound strips cannot be made there.
HAS_AUDIO = bool(getattr(bpy.app.build_options, "audaspace", True))
# Path properties holding "//"-relative paths say so from 4.5 on (else a warning each time one is set);
# 4.2 has no such option and refuses to register a property that names it.
BLEND_RELATIVE_PATH: set[str] = {"PATH_SUPPORTS_BLEND_RELATIVE"} if VERSION >= (4, 5, 0) else set()


def strip_type() -> Any:
    return getattr(bpy.types, "Strip", None) or bpy.types.Sequence  # type: ignore[attr-defined]


# Blender 5.1+: the strip timing properties under their new names.
NEW_TIMING = "left_handle" in strip_type().bl_rna.properties


def left_handle(strip: Any) -> int:
    """The first frame the strip shows (frame_final_start before 5.1)."""
    return int(strip.left_handle if NEW_TIMING else strip.frame_final_start)


def right_handle(strip: Any) -> int:
    """The first frame after the strip, end exclusive (frame_final_end before 5.1)."""
    return int(strip.right_handle if NEW_TIMING else strip.frame_final_end)


def duration(strip: Any) -> int:
    """Frames from the left handle to the right handle (frame_final_duration before 5.1)."""
    return int(strip.duration if NEW_TIMING else strip.frame_final_duration)


def set_left_handle(strip: Any, frame: int) -> None:
    if NEW_TIMING:
        strip.left_handle = frame
    else:
        strip.frame_final_start = frame


def set_right_handle(strip: Any, frame: int) -> None:
    if NEW_TIMING:
        strip.right_handle = frame
    else:
        strip.frame_final_end = frame


def set_duration(strip: Any, frames: int) -> None:
    """Move the right handle so that the strip shows `frames` frames."""
    if NEW_TIMING:
        strip.duration = frames
    else:
        strip.frame_final_duration = frames


def content_start(strip: Any) -> float:
    """Where the strip's source begins on the timeline, handles aside (frame_start before 5.1)."""
    return float(strip.content_start if NEW_TIMING else strip.frame_start)


def content_duration(strip: Any) -> int:
    """The length of the strip's source in frames, handles aside (frame_duration before 5.1)."""
    return int(strip.content_duration if NEW_TIMING else strip.frame_duration)


def top_strips(container: Any) -> Any:
    """The strips directly inside a sequence editor or a meta strip."""
    return container.strips if hasattr(container, "strips") else container.sequences


def stored_properties(group: Any) -> Any:
    """Where a property group's stored values live: Blender 5 keeps add-on properties apart from
    custom ones (`bl_system_properties_get`, None while nothing is stored); 4.x in the group itself."""
    return group.bl_system_properties_get() if hasattr(group, "bl_system_properties_get") else group


def all_strips(sequence_editor: Any) -> Any:
    if hasattr(sequence_editor, "strips_all"):
        return sequence_editor.strips_all
    return sequence_editor.sequences_all


def strip_spans(strips: Any) -> tuple[array, array, array]:
    """Channel, first frame and end frame (exclusive) of every strip in a collection, read in three
    bulk calls: far cheaper than reading three attributes per strip from Python."""
    count = len(strips)
    channels, starts, ends = (array("i", bytes(4 * count)) for _ in range(3))
    strips.foreach_get("channel", channels)
    strips.foreach_get("left_handle" if NEW_TIMING else "frame_final_start", starts)
    strips.foreach_get("right_handle" if NEW_TIMING else "frame_final_end", ends)
    return channels, starts, ends


def strip_parent(sequence_editor: Any, strip: Any) -> Any:
    """What holds a strip: its meta strip, or the sequence editor itself."""
    parent = strip.parent_meta() if hasattr(strip, "parent_meta") else None
    return parent if parent is not None else sequence_editor


def container_of(sequence_editor: Any, strip: Any) -> Any:
    """The collection a strip lives in: its meta strip's, or the editor's top level."""
    return top_strips(strip_parent(sequence_editor, strip))


def sequencer_scene(context: Any) -> Any:
    return getattr(context, "sequencer_scene", None) or context.scene


def new_effect_strip(container: Any, kind: str, name: str, channel: int, frame_start: int, length: int) -> Any:
    """An input-less effect strip (COLOR, TEXT): 4.2 and 4.5 take frame_end, 5.0 takes length."""
    if VERSION >= (5, 0, 0):
        return top_strips(container).new_effect(
            name=name, type=kind, channel=channel, frame_start=frame_start, length=length
        )
    return top_strips(container).new_effect(
        name=name, type=kind, channel=channel, frame_start=frame_start, frame_end=frame_start + length
    )


def new_color_strip(container: Any, name: str, channel: int, frame_start: int, length: int) -> Any:
    return new_effect_strip(container, "COLOR", name, channel, frame_start, length)


def new_text_strip(container: Any, name: str, channel: int, frame_start: int, length: int) -> Any:
    return new_effect_strip(container, "TEXT", name, channel, frame_start, length)


def extension_user_dir(package: str, subdir: str) -> str | None:
    """Where an extension may write; None when loaded as a legacy add-on (no such folder)."""
    try:
        return bpy.utils.extension_path_user(package, path=subdir, create=True)
    except (ValueError, AttributeError):
        return None
