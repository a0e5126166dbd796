"""Smaller settings after running out of memory: resolution first, then frames.

Resolution goes first because it changes what the shot looks like least (the
take is scaled to the timeline anyway); frames go second because fewer frames
make a take shorter than its shot. Every step says what changed, for the user.
"""

from __future__ import annotations

import math

from ..shots import MediaKind, ShotSpec

SCALE = 0.75  # each step keeps 3/4 of each side: about half the pixels every two steps
GRID = 32  # video models want sides in multiples of 32 (Wan's templates snap to it)
MIN_SHORT_SIDE = 256
MIN_FRAMES = 17  # 4n+1, about 0.7 s at 24 fps
MAX_STEP_DOWNS = 4


def _smaller_side(value: int) -> int:
    return max(GRID, math.floor(value * SCALE / GRID) * GRID)


def step_down(spec: ShotSpec) -> tuple[ShotSpec, str] | None:
    """The next smaller settings and what changed, or None when nothing more can be given up."""
    width, height = spec.width, spec.height
    new_width, new_height = _smaller_side(width), _smaller_side(height)
    if min(new_width, new_height) >= MIN_SHORT_SIDE and (new_width, new_height) != (width, height):
        smaller = spec.model_copy(update={"width": new_width, "height": new_height})
        return smaller, f"resolution {width}x{height} -> {new_width}x{new_height}"
    if spec.media == MediaKind.VIDEO and spec.frame_count > MIN_FRAMES:
        half = (spec.frame_count - 1) // 2
        frames = max(MIN_FRAMES, 4 * (half // 4) + 1)  # video models want 4n+1 frames
        if frames < spec.frame_count:
            fewer = spec.model_copy(update={"frame_count": frames})
            return fewer, f"frames {spec.frame_count} -> {frames}"
    return None
