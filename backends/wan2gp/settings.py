"""Wan2GP settings from a shot: which model, at which resolution bucket, how many frames, at what fps.

Pure data and arithmetic (no network, no bpy), so every rule here is a table test.

* Model by quality and GPU memory: drafts use Wan2.2 TI2V 5B (text or start image), finals Wan2.2 14B
  (t2v_2_2, or i2v_2_2 when the shot has an init image). With less memory the tiers step down to the
  5B and then to Wan2.1 1.3B. Model facts (fps, frame lattice, limits) are those Wan2GP 12.60
  reported in protocols/wan2gp-captures (get_model_schema); i2v_2_2 was not captured and follows
  t2v_2_2 and the source notes. At run time the server's own schema wins over this table.
* Resolution: Wan2GP only takes its resolution buckets ("WxH" strings from its resolution list).
  The shot's size snaps to the bucket of the closest aspect ratio, then the closest pixel count,
  within the model's ceiling (a 480p model never gets 720p).
* Frames: the shot's duration at the model's own fps, rounded UP onto the model's lattice
  (frames_minimum + k * frames_steps, i.e. 4n+1 for Wan) so the take is never shorter than the
  shot, and capped at the model's maximum (then the take is shorter, and parameters say so).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ...shots import MediaKind, Quality, ShotSpec

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

PIXELS_480P = 832 * 624  # the largest 480p bucket
PIXELS_720P = 1024 * 1024  # the largest 720p bucket
PIXELS_1080P = 1920 * 1088
REFERENCE_SHOT_FPS = 24.0  # the frame rate offers() assume for a shot's frame count (max_frames)
_ASPECT_TOLERANCE = 0.05  # buckets within 5% (in log) of the best aspect count as the same shape


@dataclass(frozen=True)
class WanModel:
    """What Shotcaller needs to know about one Wan2GP model_type."""

    model_type: str
    name: str
    fps: int
    frames_minimum: int = 5
    frames_steps: int = 4
    frames_maximum: int = 97
    max_pixels: int = PIXELS_720P
    takes_start_image: bool = False
    sliding_window: bool = False  # makes videos longer than frames_maximum in overlapping windows, in one job
    # Rough peak VRAM under Wan2GP's default memory profile (weights offloaded): a fixed part plus a
    # part growing with the latent size (width x height x frames, in megapixel-frames).
    vram_base_gb: float = 8.0
    vram_per_megapixel_frame_gb: float = 0.1

    def estimate_vram_gb(self, width: int, height: int, frames: int) -> float:
        return round(self.vram_base_gb + self.vram_per_megapixel_frame_gb * width * height * frames / 1e6, 1)


MODELS: Mapping[str, WanModel] = MappingProxyType(
    {
        m.model_type: m
        for m in (
            WanModel("t2v_1.3B", "Wan2.1 Text2video 1.3B", fps=16, frames_maximum=97, max_pixels=PIXELS_480P,
                     vram_base_gb=3.0, vram_per_megapixel_frame_gb=0.06),
            WanModel("ti2v_2_2", "Wan2.2 TextImage2video 5B", fps=24, frames_maximum=121, takes_start_image=True,
                     sliding_window=True, vram_base_gb=5.0, vram_per_megapixel_frame_gb=0.035),
            WanModel("t2v_2_2", "Wan2.2 Text2video 14B", fps=16, frames_maximum=97, sliding_window=True,
                     vram_base_gb=8.0, vram_per_megapixel_frame_gb=0.12),
            WanModel("i2v_2_2", "Wan2.2 Image2video 14B", fps=16, frames_maximum=97, takes_start_image=True,
                     sliding_window=True, vram_base_gb=8.5, vram_per_megapixel_frame_gb=0.12),
        )
    }
)  # fmt: skip


_LEARNED: dict[str, WanModel] = {}  # models a server described (discovery.py): model facts, the same on any server
_LEARNED_LOCK = threading.Lock()


def wan_model(model_type: str) -> WanModel:
    """The facts of a model_type: the built-in table, else what a server said about it. KeyError if neither."""
    model = MODELS.get(model_type)
    if model is not None:
        return model
    with _LEARNED_LOCK:
        return _LEARNED[model_type]


def learn_model(model: WanModel) -> None:
    """Remember a model a server described, so presets and settings can use it like a built-in one."""
    if model.model_type not in MODELS:
        with _LEARNED_LOCK:
            _LEARNED[model.model_type] = model


@dataclass(frozen=True)
class Wan2GPPreset:
    """One offer of a Wan2GP server: a quality tier with the model for text shots and for image shots."""

    name: str
    label: str
    quality: Quality
    text_model: str  # model_type for shots without an init image
    image_model: str | None  # model_type for shots with one (None: the init image is ignored)
    steps: int  # 0: the model's own default on the server
    min_vram_gb: float = 0.0  # the tier is offered only on GPUs with at least this much memory
    media: MediaKind = MediaKind.VIDEO
    extra_settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def model_for(self, spec: ShotSpec) -> WanModel:
        model_type = self.image_model if spec.init_image and self.image_model else self.text_model
        return wan_model(model_type)

    @property
    def models(self) -> tuple[WanModel, ...]:
        types = [self.text_model] + ([self.image_model] if self.image_model not in (None, self.text_model) else [])
        return tuple(wan_model(t) for t in types if t is not None)


PRESETS: Mapping[str, Wan2GPPreset] = MappingProxyType(
    {
        p.name: p
        for p in (
            Wan2GPPreset("wan2gp_final_14b", "Wan2.2 14B (Wan2GP)", Quality.FINAL, "t2v_2_2", "i2v_2_2",
                         steps=30, min_vram_gb=12.0),
            Wan2GPPreset("wan2gp_final_5b", "Wan2.2 TI2V 5B, 50 steps (Wan2GP)", Quality.FINAL, "ti2v_2_2",
                         "ti2v_2_2", steps=50, min_vram_gb=6.0),
            Wan2GPPreset("wan2gp_final_1_3b", "Wan2.1 1.3B, 40 steps (Wan2GP)", Quality.FINAL, "t2v_1.3B", None,
                         steps=40),
            Wan2GPPreset("wan2gp_draft_5b", "Wan2.2 TI2V 5B draft (Wan2GP)", Quality.DRAFT, "ti2v_2_2",
                         "ti2v_2_2", steps=20, min_vram_gb=6.0),
            Wan2GPPreset("wan2gp_draft_1_3b", "Wan2.1 1.3B draft (Wan2GP)", Quality.DRAFT, "t2v_1.3B", None,
                         steps=20),
        )
    }
)  # fmt: skip

# Preference order per quality: the first tier the GPU can hold is offered.
TIERS: Mapping[Quality, tuple[str, ...]] = MappingProxyType(
    {
        Quality.DRAFT: ("wan2gp_draft_5b", "wan2gp_draft_1_3b"),
        Quality.FINAL: ("wan2gp_final_14b", "wan2gp_final_5b", "wan2gp_final_1_3b"),
    }
)


def choose_presets(vram_gb: float | None) -> list[Wan2GPPreset]:
    """One preset per quality: the best one that fits `vram_gb` (unknown memory: the best of all)."""
    chosen: list[Wan2GPPreset] = []
    for names in TIERS.values():
        fitting = [PRESETS[n] for n in names if vram_gb is None or PRESETS[n].min_vram_gb <= vram_gb]
        chosen.append(fitting[0] if fitting else PRESETS[names[-1]])
    return chosen


@dataclass(frozen=True)
class ModelLimits:
    """Frame rate and frame lattice of one model, from the server's schema or the table above."""

    model_type: str
    name: str
    fps: float
    frames_minimum: int
    frames_steps: int
    frames_maximum: int | None
    takes_start_image: bool
    sliding_window: bool = False

    @classmethod
    def from_schema(cls, model: WanModel, metadata: Mapping[str, Any] | None) -> ModelLimits:
        """The server's get_model_schema metadata where it says something sane, the table otherwise."""
        meta = metadata or {}
        media_inputs = meta.get("media_inputs")
        image_inputs = media_inputs.get("image") if isinstance(media_inputs, Mapping) else None
        takes_image = bool(image_inputs.get("start")) if isinstance(image_inputs, Mapping) else model.takes_start_image
        maximum = _positive_int(meta.get("frames_maximum"), model.frames_maximum)
        window = meta.get("sliding_window")
        return cls(
            model_type=model.model_type,
            name=str(meta.get("name") or model.name),
            fps=float(_positive_number(meta.get("fps"), model.fps)),
            frames_minimum=_positive_int(meta.get("frames_minimum"), model.frames_minimum),
            frames_steps=_positive_int(meta.get("frames_steps"), model.frames_steps),
            frames_maximum=maximum,
            takes_start_image=takes_image,
            sliding_window=window if isinstance(window, bool) else model.sliding_window,
        )


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


def max_shot_frames(preset: Wan2GPPreset, shot_fps: float = REFERENCE_SHOT_FPS) -> int:
    """The longest shot (in frames at `shot_fps`) every model of the preset covers without capping.

    The router compares this with a shot's frame count at the scene's rate, which offers() cannot
    know: 24 fps is assumed. A longer shot at a higher rate is capped at run time (and says so).
    """
    seconds = min(m.frames_maximum / m.fps for m in preset.models)
    return math.floor(seconds * shot_fps + 1e-6)


def resolve_presets(names: Sequence[str | Wan2GPPreset]) -> list[Wan2GPPreset]:
    presets: list[Wan2GPPreset] = []
    for item in names:
        if isinstance(item, Wan2GPPreset):
            unknown = [m for m in (item.text_model, item.image_model) if m is not None and m not in MODELS]
            if unknown:
                raise ValueError(f"Wan2GP preset '{item.name}' uses {unknown[0]}; known models: {', '.join(MODELS)}")
            presets.append(item)
        elif item in PRESETS:
            presets.append(PRESETS[item])
        else:
            raise ValueError(f"unknown Wan2GP preset '{item}'; known: {', '.join(PRESETS)}")
    return presets


def _positive_int(value: Any, fallback: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        return fallback  # int(1e999) would raise OverflowError
    return int(value)


def _positive_number(value: Any, fallback: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or math.isinf(value):
        return fallback
    return float(value)
