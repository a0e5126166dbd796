"""A take made of segments or sound parts (jobs/segmented.py) placed as ONE strip: a meta strip holding them.

Why a meta strip and not one joined file: joining movie files needs a decoder and an encoder
(PyAV and its FFmpeg libraries), which Blender's Python does not have and which would have to be
bundled for every platform and Python the extension supports. Blender's own sequencer already plays
consecutive movie strips seamlessly; inside a meta strip they are one strip on the timeline, so the
take is switched, muted, moved, deleted and recorded as one, like a single-file take.

Each segment sits on its own inner channel (1, 2, 1, 2...), placed so that its kept frames follow
the ones before: a continuing segment's first frame (the start image it was made from, the same as
the last frame before) is trimmed, and the last segment ends on the shot's last frame. Sound parts
overlap by their crossfade (music), with volume keys fading one out as the next comes in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from . import compat


class JoinError(RuntimeError):
    """A segment's file is missing or unreadable: the message names it."""


def place_segments(
    container: Any,
    segments: Sequence[Mapping[str, Any]],
    name: str,
    channel: int,
    start: int,
    sound: bool = False,
) -> Any:
    """A meta strip at `start` on `channel` of `container` (the shot's editor or meta) showing the segments
    (`sound`: playing the sound parts, each crossfading into the next over its `crossfade` frames)."""
    for segment in segments:
        if not os.path.isfile(str(segment.get("file", ""))):
            raise JoinError(f"the take's segment file is missing: {segment.get('file')}")
    meta = compat.top_strips(container).new_meta(name=name, channel=channel, frame_start=start)
    inner = compat.top_strips(meta)
    at = start
    try:
        previous = None
        for number, segment in enumerate(segments):
            skip, keep = int(segment.get("skip_first", 0)), int(segment["keep"])
            fade = int(segment.get("crossfade", 0))
            label, path, lane = f"{name} segment {number + 1}", str(segment["file"]), 1 + number % 2
            if sound:
                part = inner.new_sound(name=label, filepath=path, channel=lane, frame_start=at - fade)
            else:  # its source starts `skip` frames early and its left handle hides them
                part = inner.new_movie(
                    name=label, filepath=path, channel=lane, frame_start=at - skip, fit_method="FILL"
                )
                compat.set_left_handle(part, at)
            compat.set_right_handle(part, at + keep)
            if fade and previous is not None:
                _crossfade(previous, part, at - fade, at)
            previous = part
            at += keep
    except RuntimeError as exc:
        compat.top_strips(container).remove(meta)
        raise JoinError(f"Blender could not load a segment of the take: {exc}") from exc
    # Adding strips inside a meta grows its content but not its visible range: set it to the take.
    compat.set_right_handle(meta, at)
    return meta


def _crossfade(out: Any, into: Any, begin: int, end: int) -> None:
    """Volume keys: `out` from full to silent and `into` from silent to full between begin and end."""
    for strip, first, last in ((out, 1.0, 0.0), (into, 0.0, 1.0)):
        strip.volume = first
        strip.keyframe_insert(data_path="volume", frame=begin)
        strip.volume = last
        strip.keyframe_insert(data_path="volume", frame=end)
