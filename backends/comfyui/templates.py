"""ComfyUI workflow templates: an API-format workflow plus a binding file, loaded and checked.

The binding file's format is binding.py's (pydantic models); a loaded template and how a shot is
applied to its workflow are workflow.py's. The node types a template needs (``required_nodes``) are
read from the workflow. Everything is checked when the template is loaded, so a broken template is
reported once, naming its file, instead of failing later on a filmmaker's shot.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from .binding import (
    BINDING_SUFFIX,
    PARAMETER_TYPES,
    RANGED,
    BindingFile,
    InputBinding,
    ModelRequirement,
    Parameter,
    ParameterRange,
    VramEstimate,
)
from .workflow import KNOWN_MODEL_INPUTS, ComfyTemplate, ParameterOutOfRange, ParameterSpec, RequiredModel

__all__ = [
    "BINDING_SUFFIX",
    "BUNDLED_TEMPLATE_DIR",
    "KNOWN_MODEL_INPUTS",
    "PARAMETER_TYPES",
    "BindingFile",
    "ComfyTemplate",
    "InputBinding",
    "ModelRequirement",
    "Parameter",
    "ParameterOutOfRange",
    "ParameterRange",
    "ParameterSpec",
    "RequiredModel",
    "TemplateError",
    "VramEstimate",
    "load_template",
    "load_templates",
]

# <package root>/templates/comfyui: this file lives in <package root>/backends/comfyui/.
BUNDLED_TEMPLATE_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "templates", "comfyui"
)


class TemplateError(ValueError):
    """A template on disk is broken. The message names the file and what is wrong with it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"ComfyUI template {path}: {problem}")
        self.path = path
        self.problem = problem


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
        if parameter not in RANGED:
            raise TemplateError(path, f"'{parameter}' is a {PARAMETER_TYPES[parameter]}, it has no range")
    for req in binding.required_models:
        check(req.node, req.input, f"required model in folder '{req.folder}'")
        value = workflow[req.node]["inputs"][req.input]
        if not isinstance(value, str) or not value:
            raise TemplateError(
                path,
                f"required model input '{req.input}' of node {req.node} must hold a file name, found {value!r}",
            )
