"""ComfyUI workflow templates: an API-format workflow plus a binding file.

The binding file (`<name>.binding.json`) describes the workflow to Shotcaller:

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
* ``inputs``: which node inputs receive which shot parameter, and how each value is snapped to what
  the model accepts (``multiple_of`` + ``min``, ``snap: "4n+1"`` for video lengths, ``ceil_to`` to round
  a duration up so a sound is never shorter than its shot).

The node types a template needs (``required_nodes``) are read from the workflow. Everything is checked
when the template is loaded, so a broken template is reported once, naming its file, instead of failing
later on a filmmaker's shot.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ...shots import MediaKind, Quality, ShotSpec

# <package root>/templates/comfyui: this file lives in <package root>/backends/comfyui/.
BUNDLED_TEMPLATE_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "templates", "comfyui"
)
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
_RANGED = {name for name, kind in PARAMETER_TYPES.items() if kind in ("int", "float")}
_CLAMPED = {"width", "height", "fps", "seed"}  # the others (frame_count, duration) refuse values above max

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


class TemplateError(ValueError):
    """A template on disk is broken. The message names the file and what is wrong with it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"ComfyUI template {path}: {problem}")
        self.path = path
        self.problem = problem


class ParameterOutOfRange(ValueError):
    """A shot asks for more than a template can make (too many frames, too long a sound)."""


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
            if limits is None or name not in _RANGED:
                continue
            value = values[name]
            if limits.max is not None and value > limits.max:
                if name not in _CLAMPED:
                    raise ParameterOutOfRange(self._too_much(name, spec, limits.max))
                value = limits.max
            if limits.min is not None and value < limits.min:
                value = limits.min
            values[name] = int(value) if PARAMETER_TYPES[name] == "int" else float(value)
        return values

    def _too_much(self, name: str, spec: ShotSpec, maximum: float) -> str:
        who = f"template '{self.label}'"
        if name == "frame_count":
            return (
                f"{who} makes at most {int(maximum)} frames and {spec.describe()} has {spec.frame_count}"
                f" ({spec.duration_seconds:.1f} s at {spec.fps:g} fps)"
            )
        return f"{who} makes at most {maximum:g} seconds and {spec.describe()} lasts {spec.duration_seconds:.1f} s"

    def build_prompt(
        self, spec: ShotSpec, file_prefix: str, *, init_image: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The API prompt for one shot, and the parameter values actually applied (after snapping).

        `init_image` is the server-side name of an uploaded image (from `upload_image`);
        the spec's local path means nothing to the server.
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
        return prompt, applied


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


def load_template(binding_path: str) -> ComfyTemplate:
    """Load and validate one `*.binding.json` and the workflow it names."""
    raw = _read_json(binding_path, what="binding file")
    try:
        binding = BindingFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors())
        raise TemplateError(binding_path, f"invalid binding: {problems}") from None
    workflow_path = os.path.join(os.path.dirname(binding_path), binding.workflow)
    if not os.path.isfile(workflow_path):
        raise TemplateError(binding_path, f"the workflow file {workflow_path} does not exist")
    workflow = _read_json(workflow_path, what="workflow")
    _check_workflow(workflow, workflow_path)
    _check_bindings(binding, workflow, binding_path)
    return ComfyTemplate(binding, workflow, binding_path)


def load_templates(
    dirs: Iterable[str], *, on_error: Callable[[TemplateError], None] | None = None
) -> list[ComfyTemplate]:
    """Every template in `dirs`, in order. A later directory's template replaces an earlier one
    of the same name, so a user's folder can override a bundled template.

    Without `on_error` the first broken template raises TemplateError; with it, broken
    templates are reported there and skipped, so one bad file does not hide the others (a broken
    user template that shares a bundled one's name leaves the bundled one in place).
    """
    by_name: dict[str, ComfyTemplate] = {}
    for directory in dirs:
        try:
            if not os.path.isdir(directory):
                raise TemplateError(directory, "this template folder does not exist")
            try:
                filenames = sorted(os.listdir(directory))
            except OSError as exc:
                raise TemplateError(directory, f"cannot list this template folder: {exc}") from None
            seen_here: dict[str, str] = {}
            for filename in filenames:
                if not filename.endswith(BINDING_SUFFIX):
                    continue
                path = os.path.join(directory, filename)
                try:
                    template = _load_guarded(path)
                    if template.name in seen_here:
                        raise TemplateError(
                            path,
                            f"another template in this folder ({seen_here[template.name]}) is already named"
                            f" '{template.name}'; give each template its own name",
                        )
                except TemplateError as exc:
                    if on_error is None:
                        raise
                    on_error(exc)
                    continue
                seen_here[template.name] = filename
                by_name[template.name] = template
        except TemplateError as exc:
            if on_error is None:
                raise
            on_error(exc)
    return list(by_name.values())


def _load_guarded(path: str) -> ComfyTemplate:
    try:
        return load_template(path)
    except TemplateError:
        raise
    except Exception as exc:  # a file shaped in a way no check foresaw must not break the others
        raise TemplateError(path, f"cannot be used ({type(exc).__name__}: {exc})") from None


def _read_json(path: str, *, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise TemplateError(
            path, f"the {what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(path, f"cannot read the {what}: {exc}") from None


def _check_workflow(workflow: Any, path: str) -> None:
    if not isinstance(workflow, dict) or not workflow:
        raise TemplateError(path, "the workflow must be a JSON object of nodes (ComfyUI 'Export (API)')")
    for node_id, node in workflow.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            raise TemplateError(
                path,
                f"node {node_id} has no class_type: is this the API format (ComfyUI 'Export (API)')"
                " rather than the UI workflow format?",
            )
        if not isinstance(node.get("inputs"), dict):
            raise TemplateError(path, f"node {node_id} ({node['class_type']}) has no inputs object")
        for input_name, value in node["inputs"].items():
            is_link = isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)
            if is_link and str(value[0]) not in workflow:
                raise TemplateError(
                    path,
                    f"input '{input_name}' of node {node_id} ({node['class_type']}) is linked to node"
                    f" {value[0]}, which is not in the workflow",
                )


def _check_bindings(binding: BindingFile, workflow: dict[str, Any], path: str) -> None:
    def check(node_id: str, input_name: str, purpose: str) -> None:
        if node_id not in workflow:
            raise TemplateError(
                path, f"{purpose} refers to node {node_id}, which is not in the workflow {binding.workflow}"
            )
        node = workflow[node_id]
        if input_name not in node["inputs"]:
            known = ", ".join(sorted(node["inputs"])) or "none"
            raise TemplateError(
                path,
                f"{purpose} refers to input '{input_name}' of node {node_id} ({node['class_type']}),"
                f" which has no such input (it has: {known})",
            )

    for parameter, bindings in binding.inputs.items():
        if not bindings:
            raise TemplateError(path, f"parameter '{parameter}' is bound to no node input")
        for entry in bindings:
            check(entry.node, entry.input, f"parameter '{parameter}'")
    for parameter in binding.parameters:
        if parameter not in binding.inputs:
            raise TemplateError(
                path, f"'parameters' gives a range for '{parameter}', which 'inputs' binds to no node input"
            )
        if parameter not in _RANGED:
            raise TemplateError(path, f"'{parameter}' is a {PARAMETER_TYPES[parameter]}, it has no range")
    for req in binding.required_models:
        check(req.node, req.input, f"required model in folder '{req.folder}'")
        value = workflow[req.node]["inputs"][req.input]
        if not isinstance(value, str) or not value:
            raise TemplateError(
                path,
                f"required model input '{req.input}' of node {req.node} must hold a file name, found {value!r}",
            )
