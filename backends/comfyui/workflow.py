"""A loaded ComfyUI template (ComfyTemplate) and a shot applied to its workflow.

`build_prompt` fits the shot's numbers to the template's ranges, snaps each to what its node input
accepts and writes them into a copy of the workflow. The model files the workflow names are read
here too (`required_models`), for the server checks.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...shots import MediaKind, Quality, ShotSpec
from .binding import CLAMPED, PARAMETER_TYPES, RANGED, BindingFile, ParameterRange, VramEstimate

# Loader inputs of ComfyUI's own nodes that name a model file, and the models folder it lives in.
KNOWN_MODEL_INPUTS: dict[tuple[str, str], str] = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("CheckpointLoader", "ckpt_name"): "checkpoints",
    ("ImageOnlyCheckpointLoader", "ckpt_name"): "checkpoints",
    ("unCLIPCheckpointLoader", "ckpt_name"): "checkpoints",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("TripleCLIPLoader", "clip_name1"): "text_encoders",
    ("TripleCLIPLoader", "clip_name2"): "text_encoders",
    ("TripleCLIPLoader", "clip_name3"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name1"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name2"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name3"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name4"): "text_encoders",
    ("VAELoader", "vae_name"): "vae",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("ControlNetLoader", "control_net_name"): "controlnet",
    ("DiffControlNetLoader", "control_net_name"): "controlnet",
    ("StyleModelLoader", "style_model_name"): "style_models",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("AudioEncoderLoader", "audio_encoder_name"): "audio_encoders",
    ("ModelPatchLoader", "name"): "model_patches",
}
_NOT_A_FILE = {"pixel_space", "None", "none", ""}


class ParameterOutOfRange(ValueError):
    """A shot asks for more than a template can make (too many frames, too long a sound)."""


@dataclass(frozen=True)
class RequiredModel:
    """A model file the template needs, as named in its workflow."""

    node_id: str
    class_type: str
    input_name: str
    folder: str
    filename: str


@dataclass(frozen=True)
class ParameterSpec:
    """A shot parameter the template accepts: its type and, for numbers, its range (None = open)."""

    name: str
    type: str
    min: float | None = None
    max: float | None = None


class ComfyTemplate:
    """A loaded, validated template. The workflow is never mutated: each prompt is a deep copy."""

    def __init__(self, binding: BindingFile, workflow: Mapping[str, Any], source: str) -> None:
        self.binding = binding
        self._workflow = workflow
        self.source = source
        self.required_models = _required_models(binding, workflow)
        self.parameters: dict[str, ParameterSpec] = {}
        for parameter in binding.inputs:
            limits = binding.parameters.get(parameter) or ParameterRange()
            self.parameters[parameter] = ParameterSpec(parameter, PARAMETER_TYPES[parameter], limits.min, limits.max)
        self.bound_inputs = frozenset((b.node, b.input) for bindings in binding.inputs.values() for b in bindings)

    @property
    def name(self) -> str:
        return self.binding.name

    @property
    def label(self) -> str:
        return self.binding.label or self.binding.name

    @property
    def media(self) -> MediaKind:
        return self.binding.media

    @property
    def quality(self) -> Quality:
        return self.binding.quality

    @property
    def model(self) -> str:
        return self.binding.model

    @property
    def vram(self) -> VramEstimate:
        return self.binding.vram_estimate

    @property
    def vram_gb(self) -> float:
        """The base VRAM need (the model loaded, the smallest job)."""
        return self.vram.base_gb

    def estimate_vram_gb(self, width: int, height: int, frames: int = 1) -> float:
        return self.vram.estimate(width, height, frames)

    @property
    def max_frames(self) -> int:
        """The most frames one take can have (0: no limit, or not a frame-based template)."""
        spec = self.parameters.get("frame_count")
        return int(spec.max) if spec is not None and spec.max is not None else 0

    @property
    def frame_lattice(self) -> tuple[int, int]:
        """(minimum, step) of the frame counts the template makes: (1, 4) for 4n+1, else (1, 1)."""
        bindings = self.binding.inputs.get("frame_count") or []
        return (1, 4) if any(b.snap == "4n+1" for b in bindings) else (1, 1)

    @property
    def max_seconds(self) -> float:
        """The longest sound one take can have (0: no limit, or not a duration-based template)."""
        spec = self.parameters.get("duration")
        return float(spec.max) if spec is not None and spec.max is not None else 0.0

    @property
    def family(self) -> str:
        return self.binding.family

    @property
    def node_classes(self) -> dict[str, str]:
        """node id -> class_type, for checking a server has every node type."""
        return {node_id: str(node["class_type"]) for node_id, node in self._workflow.items()}

    @property
    def required_nodes(self) -> tuple[str, ...]:
        """Every node type the workflow uses, sorted."""
        return tuple(sorted(set(self.node_classes.values())))

    @property
    def needs_init_image(self) -> bool:
        return bool(self.binding.inputs.get("init_image"))

    def workflow_copy(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self._workflow))

    def shot_values(self, spec: ShotSpec) -> dict[str, Any]:
        """The numbers of a shot fitted to this template's ranges (before per-input snapping).

        Raises ParameterOutOfRange when the take could not cover the shot.
        """
        values: dict[str, Any] = {
            "seed": spec.seed,
            "width": spec.width,
            "height": spec.height,
            "frame_count": spec.frame_count,
            "fps": spec.fps,
            "duration": round(spec.duration_seconds, 6),
        }
        for name in list(values):
            limits = self.parameters.get(name)
            if limits is None or name not in RANGED:
                continue
            value = values[name]
            if limits.max is not None and value > limits.max:
                if name not in CLAMPED:
                    raise ParameterOutOfRange(self._too_much(name, spec, limits.max))
                value = limits.max
            if limits.min is not None and value < limits.min:
                value = limits.min
            values[name] = int(value) if PARAMETER_TYPES[name] == "int" else float(value)
        return values

    def _too_much(self, name: str, spec: ShotSpec, maximum: float) -> str:
        who = f"template '{self.label}'"
        if name == "frame_count":  # in seconds, frames in brackets: the filmmaker's units
            return (
                f"{who} makes at most {maximum / spec.fps:.1f} s ({int(maximum)} frames at {spec.fps:g} fps)"
                f" and {spec.describe()} lasts {spec.duration_seconds:.1f} s ({spec.frame_count} frames)"
            )
        return f"{who} makes at most {maximum:.1f} s and {spec.describe()} lasts {spec.duration_seconds:.1f} s"

    def build_prompt(
        self, spec: ShotSpec, file_prefix: str, *, init_image: str | None = None, last_frame: bool = False
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The API prompt for one shot, and the parameter values actually applied (after snapping).

        `init_image` is the server-side name of an uploaded image (from `upload_image`);
        the spec's local path means nothing to the server. `last_frame` also saves the video's
        last frame as a PNG (core nodes ImageFromBatch and SaveImage), for the next segment to start from.
        """
        values: dict[str, Any] = {
            "prompt": spec.prompt,
            "negative_prompt": spec.negative_prompt,
            "filename_prefix": file_prefix,
            "init_image": init_image,
            **self.shot_values(spec),
        }
        prompt = self.workflow_copy()
        applied: dict[str, Any] = {"template": self.name}
        for parameter, bindings in self.binding.inputs.items():
            value = values[parameter]
            if value is None:
                if parameter == "init_image":
                    raise ValueError(f"template '{self.name}' needs an init image and the shot has none")
                continue
            for index, binding in enumerate(bindings):
                snapped = binding.apply_snapping(value)
                prompt[binding.node]["inputs"][binding.input] = snapped
                if index == 0:
                    applied[parameter] = snapped
        if last_frame:
            add_last_frame_output(prompt, int(applied.get("frame_count") or spec.frame_count), file_prefix)
        return prompt, applied


# The frames of a video workflow are the IMAGE input of its video node.
_VIDEO_IMAGE_INPUTS = {"CreateVideo": "images", "SaveWEBM": "images", "SaveAnimatedWEBP": "images"}
LAST_FRAME_NODE = "shotcaller_last_frame"


def add_last_frame_output(prompt: dict[str, Any], frames: int, file_prefix: str) -> None:
    """Add ImageFromBatch(last frame) -> SaveImage to a video prompt. ImageFromBatch clamps the
    index to the batch, so a model that decodes a frame less still gives its own last frame."""
    for node in prompt.values():
        input_name = _VIDEO_IMAGE_INPUTS.get(str(node.get("class_type")))
        link = node["inputs"].get(input_name) if input_name else None
        if isinstance(link, list) and len(link) == 2:
            break
    else:
        raise ValueError("the workflow has no video node (CreateVideo, SaveWEBM) to take the last frame from")
    prompt[LAST_FRAME_NODE] = {
        "class_type": "ImageFromBatch",
        "inputs": {"image": list(link), "batch_index": max(0, min(4095, frames - 1)), "length": 1},
        "_meta": {"title": "Shotcaller: last frame"},
    }
    prompt[LAST_FRAME_NODE + "_save"] = {
        "class_type": "SaveImage",
        "inputs": {"images": [LAST_FRAME_NODE, 0], "filename_prefix": f"{file_prefix}_last"},
        "_meta": {"title": "Shotcaller: save last frame"},
    }


def _required_models(binding: BindingFile, workflow: Mapping[str, Any]) -> tuple[RequiredModel, ...]:
    """The binding's declared model inputs, then any input of a known loader it did not declare."""
    found: dict[tuple[str, str], RequiredModel] = {}
    for req in binding.required_models:
        node = workflow[req.node]
        found[(req.node, req.input)] = RequiredModel(
            req.node, str(node["class_type"]), req.input, req.folder, str(node["inputs"][req.input])
        )
    bound = {(b.node, b.input) for bindings in binding.inputs.values() for b in bindings}
    for node_id, node in workflow.items():
        for input_name, value in node["inputs"].items():
            folder = KNOWN_MODEL_INPUTS.get((str(node["class_type"]), input_name))
            key = (node_id, input_name)
            if folder is None or key in found or key in bound:
                continue
            if isinstance(value, str) and value not in _NOT_A_FILE:
                found[key] = RequiredModel(node_id, str(node["class_type"]), input_name, folder, value)
    return tuple(found.values())
