"""Wan2GP settings from a shot: at which resolution bucket, how many frames, at what fps.

Pure data and arithmetic (no network, no bpy), so every rule here is a table test. Which model a
shot gets is presets.py (by quality and GPU memory); the model's facts are models.py.

* Resolution: Wan2GP only takes its resolution buckets ("WxH" strings from its resolution list).
  The shot's size snaps to the bucket of the closest aspect ratio, then the closest pixel count,
  within the model's ceiling (a 480p model never gets 720p).
* Frames: the shot's duration at the model's own fps, rounded UP onto the model's lattice
  (frames_minimum + k * frames_steps, i.e. 4n+1 for Wan) so the take is never shorter than the
  shot, and capped at the model's maximum (then the take is shorter, and parameters say so).
"""

from __future__ import annotations

import math
from typing import Any

from ...shots import ShotSpec
from .models import PIXELS_720P, ModelLimits, wan_model
from .presets import Wan2GPPreset

# Wan2GP's built-in resolution buckets from 256p to 1080p ("WxH"; shared/resolutions.py lists the
# same values, with 4K ones behind a config flag that Shotcaller does not use).
RESOLUTION_BUCKETS: tuple[tuple[int, int], ...] = (
    # 1080p
    (1920, 1088), (1088, 1920), (1440, 1440), (1536, 1024), (1024, 1536), (1920, 832), (832, 1920),
    (2048, 768), (1024, 1792), (1088, 1088),
    # 720p
    (1024, 1024), (1280, 720), (720, 1280), (1600, 400), (1280, 544), (544, 1280), (1104, 832), (832, 1104),
    (960, 960),
    # 540p
    (960, 544), (544, 960),
    # 480p
    (832, 624), (624, 832), (720, 720), (832, 480), (480, 832),
    # 384p
    (672, 384), (384, 672), (512, 512),
    # 320p
    (576, 320), (320, 576), (448, 448),
    # 256p
    (448, 256), (256, 448), (320, 320),
)  # fmt: skip
_ASPECT_TOLERANCE = 0.05  # buckets within 5% (in log) of the best aspect count as the same shape


def snap_resolution(width: int, height: int, max_pixels: int | None = None) -> tuple[int, int]:
    """The Wan2GP bucket for a width x height: closest aspect ratio first, then closest pixel count."""
    if width <= 0 or height <= 0:
        raise ValueError(f"resolution {width}x{height} is not positive")
    buckets = [b for b in RESOLUTION_BUCKETS if max_pixels is None or b[0] * b[1] <= max_pixels]
    if not buckets:
        buckets = [min(RESOLUTION_BUCKETS, key=lambda b: b[0] * b[1])]
    aspect = math.log(width / height)
    area = math.log(width * height)

    def aspect_error(bucket: tuple[int, int]) -> float:
        return abs(math.log(bucket[0] / bucket[1]) - aspect)

    best = min(aspect_error(b) for b in buckets)
    same_shape = [b for b in buckets if aspect_error(b) <= best + _ASPECT_TOLERANCE]
    # Closest pixel count; on a tie the larger bucket (never lose detail needlessly), then the better aspect.
    return min(same_shape, key=lambda b: (abs(math.log(b[0] * b[1]) - area), -b[0] * b[1], aspect_error(b)))


def snap_frame_count(frames: int, minimum: int = 5, step: int = 4, maximum: int | None = None) -> int:
    """`frames` rounded UP onto minimum + k*step (4n+1 for Wan), capped at the largest valid count <= maximum."""
    minimum, step = max(1, int(minimum)), max(1, int(step))
    snapped = minimum + step * max(0, math.ceil((frames - minimum) / step))
    if maximum is not None and snapped > maximum:
        snapped = max(minimum, minimum + step * ((int(maximum) - minimum) // step))
    return snapped


def frames_for_duration(seconds: float, fps: float) -> int:
    """Frames needed to cover `seconds` at `fps` (a hair of float noise does not add a frame)."""
    return max(1, math.ceil(seconds * fps - 1e-6))


def model_frame_count(spec: ShotSpec, limits: ModelLimits) -> tuple[int, bool]:
    """(frames to ask for, whether the model's maximum cut the shot short). A model with sliding
    windows is never cut short: Wan2GP makes the longer video in overlapping windows."""
    wanted = frames_for_duration(spec.duration_seconds, limits.fps)
    uncapped = snap_frame_count(wanted, limits.frames_minimum, limits.frames_steps)
    if limits.sliding_window:
        return uncapped, False
    frames = snap_frame_count(wanted, limits.frames_minimum, limits.frames_steps, limits.frames_maximum)
    return frames, frames < uncapped


def wan_seed(seed: int) -> int:
    """Wan2GP seeds are 32-bit (-1 means random): larger shot seeds wrap around, deterministically."""
    return int(seed) % (2**32)


def build_settings(
    spec: ShotSpec,
    preset: Wan2GPPreset,
    limits: ModelLimits,
    *,
    image_start: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `source` settings for wangp_generate, and the parameters to record on the take.

    Keys not given here come from the model's own defaults on the server (guidance, solver, shift).
    `image_start` is a gallery id from an upload; it is used only if the model takes a start image.
    """
    try:
        max_pixels = wan_model(limits.model_type).max_pixels
    except KeyError:
        max_pixels = PIXELS_720P
    width, height = snap_resolution(spec.width, spec.height, max_pixels)
    frames, capped = model_frame_count(spec, limits)
    seed = wan_seed(spec.seed)
    source: dict[str, Any] = {
        "model_type": limits.model_type,
        "prompt": spec.prompt,
        "image_mode": 0,
        "resolution": f"{width}x{height}",
        "video_length": frames,
        "seed": seed,
        "repeat_generation": 1,
    }
    if preset.steps > 0:
        source["num_inference_steps"] = preset.steps
    if spec.negative_prompt.strip():
        source["negative_prompt"] = spec.negative_prompt.strip()
    if image_start and limits.takes_start_image:
        source["image_prompt_type"] = "S"
        source["image_start"] = image_start
    windows = 1
    if limits.sliding_window and limits.frames_maximum and frames > limits.frames_maximum:
        # One window per model run; the model's own default overlap joins them without a jump.
        source["sliding_window_size"] = limits.frames_maximum
        windows = math.ceil((frames - 1) / max(1, limits.frames_maximum - 1))
    source.update(preset.extra_settings)
    applied: dict[str, Any] = {
        "preset": preset.name,
        "model_type": limits.model_type,
        "model": limits.name,
        "prompt": spec.prompt,
        "negative_prompt": spec.negative_prompt,
        "seed": seed,
        "width": width,
        "height": height,
        "requested_size": f"{spec.width}x{spec.height}",
        "frame_count": frames,
        "fps": limits.fps,
        "duration_seconds": round(frames / limits.fps, 3),
        "steps": preset.steps or "model default",
    }
    if windows > 1:
        applied["sliding_window_size"] = limits.frames_maximum
        applied["windows"] = windows
    if capped:
        applied["frames_capped_from"] = snap_frame_count(
            frames_for_duration(spec.duration_seconds, limits.fps), limits.frames_minimum, limits.frames_steps
        )
    if spec.init_image:
        applied["init_image"] = spec.init_image
        if not (image_start and limits.takes_start_image):
            applied["init_image_ignored"] = True
    return source, applied
