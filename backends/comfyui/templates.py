"""ComfyUI workflow templates: an API-format workflow plus a binding file.

The binding file (`<name>.binding.json`) says which node inputs receive which
shot parameters and how to snap them to what the model accepts. Everything is
checked when the template is loaded, so a broken template is reported once,
naming its file, instead of failing later on a filmmaker's shot.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    "filename_prefix",
    "init_image",
]


class TemplateError(ValueError):
    """A template on disk is broken. The message names the file and what is wrong with it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"ComfyUI template {path}: {problem}")
        self.path = path
        self.problem = problem


class InputBinding(BaseModel):
    """One node input that receives a shot parameter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    input: str
    multiple_of: int | None = Field(default=None, gt=0)
    min: int | None = None
    snap: Literal["4n+1"] | None = None

    def apply_snapping(self, value: Any) -> Any:
        """The value this input accepts: rounded to a multiple, raised to a minimum, or 4n+1."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        if self.multiple_of:
            step = self.multiple_of
            value = math.floor(value / step + 0.5) * step  # nearest multiple, halves round up
            if self.min is not None and value < self.min:
                value = math.ceil(self.min / step) * step
        elif self.min is not None and value < self.min:
            value = self.min
        if self.snap == "4n+1":
            # Video models want 4n+1 frames. Round UP so the take is never shorter than its shot.
            value = 4 * max(0, math.ceil((value - 1) / 4)) + 1
        return value


class ModelRequirement(BaseModel):
    """A loader input whose value (read from the workflow) is a model file that must exist."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    input: str
    folder: str


class BindingFile(BaseModel):
    """The `*.binding.json` format."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    label: str = ""
    workflow: str = Field(min_length=1)
    media: MediaKind
    quality: Quality
    model: str = ""
    vram_gb: float = Field(default=0.0, ge=0)
    required_models: list[ModelRequirement] = Field(default_factory=list)
    inputs: dict[Parameter, list[InputBinding]] = Field(default_factory=dict)


@dataclass(frozen=True)
class RequiredModel:
    """A model file the template needs, as named in its workflow."""

    node_id: str
    class_type: str
    input_name: str
    folder: str
    filename: str


class ComfyTemplate:
    """A loaded, validated template. The workflow is never mutated: each prompt is a deep copy."""

    def __init__(self, binding: BindingFile, workflow: Mapping[str, Any], source: str) -> None:
        self.binding = binding
        self._workflow = workflow
        self.source = source
        self.required_models = tuple(
            RequiredModel(
                node_id=req.node,
                class_type=str(workflow[req.node]["class_type"]),
                input_name=req.input,
                folder=req.folder,
                filename=str(workflow[req.node]["inputs"][req.input]),
            )
            for req in binding.required_models
        )

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
    def vram_gb(self) -> float:
        return self.binding.vram_gb

    @property
    def node_classes(self) -> dict[str, str]:
        """node id -> class_type, for checking a server has every node type."""
        return {node_id: str(node["class_type"]) for node_id, node in self._workflow.items()}

    @property
    def needs_init_image(self) -> bool:
        return bool(self.binding.inputs.get("init_image"))

    def workflow_copy(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self._workflow))

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
            "seed": spec.seed,
            "width": spec.width,
            "height": spec.height,
            "frame_count": spec.frame_count,
            "fps": spec.fps,
            "filename_prefix": file_prefix,
            "init_image": init_image,
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


def load_template(binding_path: str) -> ComfyTemplate:
    """Load and validate one `*.binding.json` and the workflow it names."""
    raw = _read_json(binding_path, what="binding file")
    try:
        binding = BindingFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors()
        )
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
    templates are reported there and skipped, so one bad file does not hide the others.
    """
    by_name: dict[str, ComfyTemplate] = {}
    for directory in dirs:
        try:
            if not os.path.isdir(directory):
                raise TemplateError(directory, "this template folder does not exist")
            for filename in sorted(os.listdir(directory)):
                if not filename.endswith(BINDING_SUFFIX):
                    continue
                try:
                    template = load_template(os.path.join(directory, filename))
                except TemplateError as exc:
                    if on_error is None:
                        raise
                    on_error(exc)
                    continue
                by_name[template.name] = template
        except TemplateError as exc:
            if on_error is None:
                raise
            on_error(exc)
    return list(by_name.values())


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
        for entry in bindings:
            check(entry.node, entry.input, f"parameter '{parameter}'")
    for req in binding.required_models:
        check(req.node, req.input, f"required model in folder '{req.folder}'")
        value = workflow[req.node]["inputs"][req.input]
        if not isinstance(value, str) or not value:
            raise TemplateError(
                path,
                f"required model input '{req.input}' of node {req.node} must hold a file name,"
                f" found {value!r}",
            )
