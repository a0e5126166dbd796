"""The binding file of a ComfyUI workflow template (`<name>.binding.json`), as pydantic models.

The binding file describes the API-format workflow beside it to Shotcaller:

* ``name``, ``label``, ``workflow`` (the API-format JSON beside it), ``model`` (a readable model name);
* ``media`` (video, image, audio, music) and ``quality`` (draft, final): what the router matches shots on;
* ``vram``: ``{"base_gb": B, "per_megapixel_frame_gb": P}``, the estimate
  ``B + P * width * height / 1e6 * frames`` in GB (frames is 1 for stills and sounds). The old
  ``"vram_gb": B`` is still read as the base;
* ``required_models``: loader inputs whose value (read from the workflow) is a model file that must
  exist on the server, with its models folder. Inputs of the loaders ComfyUI ships (``KNOWN_MODEL_INPUTS``)
  are found even when not listed; list the inputs of custom loaders;
* ``parameters``: the range each bound shot parameter accepts, ``{"width": {"min": 256, "max": 1280}}``.
  Width, height and fps outside the range are clamped (the take still covers the shot, scaled);
  a frame count or duration above its maximum is refused (the take would be shorter than the shot)
  and below its minimum raised to it. Types are fixed per parameter (``PARAMETER_TYPES``);
* ``family`` (optional): templates of one family make the same look, so a shot longer than the
  family's text to video template makes is made in segments, each continued from the last frame of
  the one before by the family's image to video template (the bundled Wan 2.2 ones are families);
* ``inputs``: which node inputs receive which shot parameter, and how each value is snapped to what
  the model accepts (``multiple_of`` + ``min``, ``snap: "4n+1"`` for video lengths, ``ceil_to`` to round
  a duration up so a sound is never shorter than its shot).

Loading and checking a template against its workflow is templates.py's; applying a shot to the
workflow is workflow.py's.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...shots import MediaKind, Quality

BINDING_SUFFIX = ".binding.json"

Parameter = Literal[
    "prompt",
    "negative_prompt",
    "seed",
    "width",
    "height",
    "frame_count",
    "fps",
    "duration",
    "filename_prefix",
    "init_image",
]

# The type of each shot parameter as it reaches a node input. `duration` is the shot's length in
# seconds (frame_count / fps), for sound templates; `init_image` is the uploaded file's server name.
PARAMETER_TYPES: dict[str, str] = {
    "prompt": "string",
    "negative_prompt": "string",
    "seed": "int",
    "width": "int",
    "height": "int",
    "frame_count": "int",
    "fps": "float",
    "duration": "float",
    "filename_prefix": "string",
    "init_image": "image",
}
RANGED = {name for name, kind in PARAMETER_TYPES.items() if kind in ("int", "float")}
CLAMPED = {"width", "height", "fps", "seed"}  # the others (frame_count, duration) refuse values above max


class InputBinding(BaseModel):
    """One node input that receives a shot parameter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    input: str
    multiple_of: int | None = Field(default=None, gt=0)
    min: float | None = None
    snap: Literal["4n+1"] | None = None
    ceil_to: float | None = Field(default=None, gt=0)

    def apply_snapping(self, value: Any) -> Any:
        """The value this input accepts: rounded to a multiple, raised to a minimum, 4n+1, or rounded up."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        minimum = self.min
        if self.multiple_of:
            step = self.multiple_of
            value = math.floor(value / step + 0.5) * step  # nearest multiple, halves round up
            if minimum is not None and value < minimum:
                value = math.ceil(minimum / step) * step
        elif minimum is not None and value < minimum:
            value = int(minimum) if isinstance(value, int) and float(minimum).is_integer() else minimum
        if self.snap == "4n+1":
            # Video models want 4n+1 frames. Round UP so the take is never shorter than its shot.
            value = 4 * max(0, math.ceil((value - 1) / 4)) + 1
        if self.ceil_to:
            # Up to the next multiple (tolerating float noise), so a sound is never shorter than its shot.
            value = round(math.ceil(value / self.ceil_to - 1e-9) * self.ceil_to, 6)
            if minimum is not None and value < minimum:
                value = minimum
        return value


class ModelRequirement(BaseModel):
    """A loader input whose value (read from the workflow) is a model file that must exist."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    input: str
    folder: str = Field(min_length=1)


class ParameterRange(BaseModel):
    """The values a template accepts for one shot parameter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ParameterRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class VramEstimate(BaseModel):
    """GB of VRAM: `base_gb` with the model loaded, plus `per_megapixel_frame_gb` per million pixels x frames."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_gb: float = Field(default=0.0, ge=0)
    per_megapixel_frame_gb: float = Field(default=0.0, ge=0)

    def estimate(self, width: int, height: int, frames: int = 1) -> float:
        megapixel_frames = max(0, width) * max(0, height) / 1_000_000 * max(1, frames)
        return self.base_gb + self.per_megapixel_frame_gb * megapixel_frames


class BindingFile(BaseModel):
    """The `*.binding.json` format (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    label: str = ""
    workflow: str = Field(min_length=1)
    media: MediaKind
    quality: Quality
    model: str = ""
    family: str = ""
    vram: VramEstimate | None = None
    vram_gb: float | None = Field(default=None, ge=0)  # older bindings: the base only
    required_models: list[ModelRequirement] = Field(default_factory=list)
    parameters: dict[Parameter, ParameterRange] = Field(default_factory=dict)
    inputs: dict[Parameter, list[InputBinding]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_vram(self) -> BindingFile:
        if self.vram is not None and self.vram_gb is not None:
            raise ValueError('give either "vram" ({"base_gb", "per_megapixel_frame_gb"}) or the older "vram_gb"')
        return self

    @property
    def vram_estimate(self) -> VramEstimate:
        if self.vram is not None:
            return self.vram
        return VramEstimate(base_gb=self.vram_gb or 0.0)
