"""Wan2GP models: what Shotcaller knows of each model_type (fps, frame lattice, pixel ceiling, rough
VRAM), from its built-in table or from what a server described, and a model's limits as a server's
schema gives them.

Model facts (fps, frame lattice, limits) are those Wan2GP 12.60 reported in
protocols/wan2gp-captures (get_model_schema); i2v_2_2 was not captured and follows t2v_2_2 and the
source notes. At run time the server's own schema wins over this table (ModelLimits.from_schema).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

PIXELS_480P = 832 * 624  # the largest 480p bucket
PIXELS_720P = 1024 * 1024  # the largest 720p bucket
PIXELS_1080P = 1920 * 1088


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


def _positive_int(value: Any, fallback: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        return fallback  # int(1e999) would raise OverflowError
    return int(value)


def _positive_number(value: Any, fallback: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or math.isinf(value):
        return fallback
    return float(value)
