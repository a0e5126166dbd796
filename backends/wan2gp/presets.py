"""Wan2GP presets: the quality tiers a Wan2GP server is offered under, and which fits a GPU.

Drafts use Wan2.2 TI2V 5B (text or start image), finals Wan2.2 14B (t2v_2_2, or i2v_2_2 when the
shot has an init image). With less memory the tiers step down to the 5B and then to Wan2.1 1.3B.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ...shots import MediaKind, Quality, ShotSpec
from .models import MODELS, WanModel, wan_model

REFERENCE_SHOT_FPS = 24.0  # the frame rate offers() assume for a shot's frame count (max_frames)


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
