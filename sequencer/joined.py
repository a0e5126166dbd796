"""A take made of segments (jobs/segmented.py) placed as ONE strip: a meta strip holding the segments.

Why a meta strip and not one joined file: joining movie files needs a decoder and an encoder
(PyAV and its FFmpeg libraries), which Blender's Python does not have and which would have to be
bundled for every platform and Python the extension supports. Blender's own sequencer already plays
consecutive movie strips seamlessly; inside a meta strip they are one strip on the timeline, so the
take is switched, muted, moved, deleted and recorded as one, like a single-file take.

Each segment sits on its own inner channel (1, 2, 1, 2...), placed so that its kept frames follow
the ones before: a continuing segment's first frame (the start image it was made from, the same as
the last frame before) is trimmed, and the last segment ends on the shot's last frame.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from . import compat


class JoinError(RuntimeError):
    """A segment's file is missing or unreadable: the message names it."""


def place_segments(container: Any, segments: Sequence[Mapping[str, Any]], name: str, channel: int, start: int) -> Any:
    """A meta strip at `start` on `channel` of `container` (the shot's editor or meta) showing the segments."""
    for segment in segments:
        if not os.path.isfile(str(segment.get("file", ""))):
            raise JoinError(f"the take's segment file is missing: {segment.get('file')}")
    meta = compat.top_strips(container).new_meta(name=name, channel=channel, frame_start=start)
    inner = compat.top_strips(meta)
    at = start
    try:
        for number, segment in enumerate(segments):
            skip, keep = int(segment.get("skip_first", 0)), int(segment["keep"])
            part = inner.new_movie(
                name=f"{name} segment {number + 1}",
                filepath=str(segment["file"]),
                channel=1 + number % 2,
                frame_start=at - skip,
                fit_method="FIT",
            )
            part.frame_offset_start = skip
            part.frame_final_end = at + keep
            at += keep
    except RuntimeError as exc:
        compat.top_strips(container).remove(meta)
        raise JoinError(f"Blender could not load a segment of the take: {exc}") from exc
    # Adding strips inside a meta grows its content but not its visible range: set it to the take.
    meta.frame_final_end = at
    return meta
