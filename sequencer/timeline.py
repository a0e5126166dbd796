"""Putting a take on the timeline over exactly its shot's frames, on the first free channel above it.

`first_free_channel` is the one free-channel search: takes, shot lists and subtitles all use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import compat
from .joined import JoinError, place_segments

if TYPE_CHECKING:
    from ..shots import MediaKind

MAX_CHANNEL = 128


class PlacementError(RuntimeError):
    """The take's file exists but cannot be put on the timeline; the message says why."""


def first_free_channel(container: Any, frame_start: int, frame_end: int, lowest: int = 1) -> int | None:
    """The lowest channel >= `lowest` with no strip of `container` (a sequence editor or a meta strip)
    between frame_start and frame_end (exclusive); None when every one up to MAX_CHANNEL is taken."""
    channels, starts, ends = compat.strip_spans(compat.top_strips(container))
    busy = {c for c, s, e in zip(channels, starts, ends, strict=True) if s < frame_end and e > frame_start}
    return next((channel for channel in range(max(1, lowest), MAX_CHANNEL + 1) if channel not in busy), None)


strip_container = compat.strip_parent  # what holds a strip: its meta strip, or the sequence editor


def first_free_channel_above(sequence_editor: Any, strip: Any) -> int:
    container = strip_container(sequence_editor, strip)
    channel = first_free_channel(container, compat.left_handle(strip), compat.right_handle(strip), strip.channel + 1)
    if channel is None:
        raise PlacementError(f"no free channel above '{strip.name}' (all {MAX_CHANNEL} are used)")
    return channel


def picture_size(strip: Any) -> tuple[int, int]:
    """The take's own picture size as Blender read it from the file (a segmented take's: its first
    segment's); (0, 0) for sound."""
    if strip.type == "META":
        pictures = [inner for inner in compat.top_strips(strip) if getattr(inner, "elements", None)]
        return picture_size(pictures[0]) if pictures else (0, 0)
    elements = getattr(strip, "elements", None)
    if not elements:
        return 0, 0
    return int(elements[0].orig_width), int(elements[0].orig_height)


def place_take(
    scene: Any,
    shot_strip: Any,
    filepath: str,
    media: MediaKind,
    name: str,
    segments: Sequence[Mapping[str, Any]] | None = None,
    blender_path: str | None = None,
) -> Any:
    """A new strip showing the take, trimmed to the shot's frame range. Returns it.

    `blender_path` is the same file as Blender should store it (`//`-relative under the .blend):
    Blender opens a movie again whenever its path is set, so the path is right from the start.

    A take made in `segments` (jobs/segmented.py) becomes one meta strip holding them (joined.py).
    A picture whose size differs from the frame fills it keeping its aspect (cropped at the
    edges, never letterboxed): models make sizes like 480x288 for a 480x272 scene.
    """
    from ..shots import MediaKind  # pydantic: imported on first use, not when the add-on registers

    if segments and len(segments) > 1:
        if media not in (MediaKind.VIDEO, MediaKind.IMAGE) and not compat.HAS_AUDIO:
            raise PlacementError(
                "this Blender build has no audio support, so the sound take cannot be placed; "
                f"its parts are kept at {os.path.dirname(filepath)}"
            )
        return _place_joined(scene, shot_strip, segments, name, media not in (MediaKind.VIDEO, MediaKind.IMAGE))
    if not os.path.isfile(filepath):
        raise PlacementError(f"the take's file is missing: {filepath}")
    sequence_editor = scene.sequence_editor
    start = compat.left_handle(shot_strip)
    duration = compat.duration(shot_strip)
    channel = first_free_channel_above(sequence_editor, shot_strip)
    strips = compat.container_of(sequence_editor, shot_strip)
    load = blender_path or filepath
    try:
        if media is MediaKind.VIDEO:
            take = strips.new_movie(name=name, filepath=load, channel=channel, frame_start=start, fit_method="FILL")
        elif media is MediaKind.IMAGE:
            take = strips.new_image(name=name, filepath=load, channel=channel, frame_start=start, fit_method="FILL")
        else:
            if not compat.HAS_AUDIO:
                raise PlacementError(
                    "this Blender build has no audio support, so the sound take cannot be placed; "
                    f"the file is kept at {filepath}"
                )
            take = strips.new_sound(name=name, filepath=load, channel=channel, frame_start=start)
    except RuntimeError as exc:
        raise PlacementError(f"Blender could not load {filepath}: {exc}") from exc
    if compat.duration(take) != duration and (media is MediaKind.IMAGE or compat.duration(take) > duration):
        compat.set_duration(take, duration)
    return take


def _place_joined(scene: Any, shot_strip: Any, segments: Sequence[Mapping[str, Any]], name: str, sound: bool) -> Any:
    sequence_editor = scene.sequence_editor
    channel = first_free_channel_above(sequence_editor, shot_strip)
    container = strip_container(sequence_editor, shot_strip)
    try:
        take = place_segments(container, segments, name, channel, compat.left_handle(shot_strip), sound)
    except JoinError as exc:
        raise PlacementError(str(exc)) from exc
    if compat.duration(take) > compat.duration(shot_strip):
        compat.set_duration(take, compat.duration(shot_strip))
    return take
