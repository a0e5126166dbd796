"""Prompt validation with the error shapes of a real ComfyUI 0.3.64 server.

Written from the recorded protocol (docs: comfyui-recorded.md, "Invalid prompts"), not from
ComfyUI's code. Behaviour reproduced:

* a node without `class_type` or with an unknown one rejects the whole prompt (`invalid_prompt`);
  so does a node of the catalogue this server does not implement, with a message that says so;
* a prompt without an output node is `prompt_no_outputs`;
* every output node is validated with its whole upstream graph; per-node errors are collected
  into `node_errors[id] = {"errors", "dependent_outputs", "class_type"}`; a node that is invalid
  only because something upstream is invalid carries no errors and is not listed;
* if at least one output is valid the prompt is accepted (HTTP 200) with the others' errors;
* literal values are converted in place (INT, FLOAT, STRING, BOOLEAN) before min/max/combo checks,
  so the queued and stored prompt holds the converted values, as the real server's does.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

from . import nodes
from .catalogue import Catalogue

# Nodes with a custom input validator: the inputs it receives skip min/max/combo checks and are
# checked by a file-existence test instead (class_type -> {input: message prefix}).
CUSTOM_FILE_VALIDATORS = {
    "LoadImage": {"image": "Invalid image file"},
    "LoadImageMask": {"image": "Invalid image file"},
    "LoadImageOutput": {"image": "Invalid image file"},
    "LoadAudio": {"audio": "Invalid audio file"},
    "LoadVideo": {"file": "Invalid video file"},
    "LoadLatent": {"latent": "Invalid latent file"},
}


class PromptRejected(Exception):
    """Raised for input the real server answers with a bare HTTP 500 (e.g. prompt not a dict)."""


@dataclass
class ValidationResult:
    ok: bool
    error: dict | None
    outputs: list[str]
    node_errors: dict[str, dict] = field(default_factory=dict)


def _error(kind: str, message: str, details: str = "", extra: dict | None = None) -> dict:
    return {"type": kind, "message": message, "details": details, "extra_info": extra or {}}


def type_name(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def types_compatible(received: Any, expected: Any) -> bool:
    """Link type check: equal, a `*` wildcard, or overlapping comma-separated type unions."""
    if received == expected:
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    have = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    if "*" in have or "*" in want:
        return True
    return bool(have & want)


def split_annotation(name: str) -> tuple[str, str | None]:
    """`"x.png [output]"` -> ("x.png", "output"); no annotation -> (name, None)."""
    for kind in ("input", "output", "temp"):
        suffix = f" [{kind}]"
        if name.endswith(suffix):
            return name[: -len(suffix)], kind
    return name, None


class Validator:
    """Validates API-format prompts against a `Catalogue`."""

    def __init__(self, catalogue: Catalogue, directories: dict[str, str]):
        self.catalogue = catalogue
        self.directories = directories  # {"input": ..., "output": ..., "temp": ...}
        self._visiting: set = set()

    # ------------------------------------------------------------------ prompt level
    def validate(self, prompt: Any, targets: list | None = None) -> ValidationResult:
        if not isinstance(prompt, dict):
            raise PromptRejected("prompt must be a dict")
        outputs: list[str] = []
        for node_id, node in prompt.items():
            if isinstance(node, (str, list, tuple)):
                if "class_type" not in node:
                    return self._invalid("Cannot execute because a node is missing the class_type property.", node_id)
                raise PromptRejected("node is not a dict")
            if not isinstance(node, dict):
                raise PromptRejected("node is not a dict")
            if "class_type" not in node:
                return self._invalid("Cannot execute because a node is missing the class_type property.", node_id)
            class_type = node["class_type"]
            hash(class_type)  # an unhashable class_type is a server error (HTTP 500)
            if not isinstance(class_type, str) or not self.catalogue.has(class_type):
                return self._invalid(f"Cannot execute because node {class_type} does not exist.", node_id)
            if class_type not in nodes.NODES:
                # Refused here, as a real server refuses a node type it lacks: accepting it would
                # let a client believe the reference server can run what it only lists.
                return self._invalid(
                    f"Cannot execute because node {class_type} does not exist on the ComfyUI reference server:"
                    " it lists the node in /object_info but cannot run it.",
                    node_id,
                )
            if self.catalogue.is_output_node(class_type) and (targets is None or node_id in targets):
                outputs.append(node_id)
        if not outputs:
            return ValidationResult(False, _error("prompt_no_outputs", "Prompt has no outputs"), [], {})

        validated: dict[str, tuple[bool, list[dict], str]] = {}
        self._visiting = set()
        good: list[str] = []
        failures: list[tuple[str, list[dict]]] = []
        node_errors: dict[str, dict] = {}
        for output_id in outputs:
            try:
                valid, reasons = self._validate_node(prompt, output_id, validated)
            except Exception as exc:
                valid = False
                reasons = [
                    _error(
                        "exception_during_validation",
                        "Exception when validating node",
                        str(exc),
                        {"exception_type": type_name(exc), "traceback": traceback.format_tb(exc.__traceback__)},
                    )
                ]
                validated[output_id] = (False, reasons, output_id)
            if valid:
                good.append(output_id)
                continue
            if reasons:
                failures.append((output_id, reasons))
            # Like the real server: every invalid node seen so far that has its own errors is
            # reported, and this output is added to its dependent outputs.
            for node_id, (node_valid, node_reasons, _) in validated.items():
                if node_valid or not node_reasons:
                    continue
                if node_id not in node_errors:
                    node_errors[node_id] = {
                        "errors": node_reasons,
                        "dependent_outputs": [],
                        "class_type": prompt[node_id]["class_type"],
                    }
                node_errors[node_id]["dependent_outputs"].append(output_id)

        if not good:
            details = "\n".join(f"{r['message']}: {r['details']}" for _, reasons in failures for r in reasons)
            error = _error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)
            return ValidationResult(False, error, [], node_errors)
        return ValidationResult(True, None, good, node_errors)

    @staticmethod
    def _invalid(message: str, node_id: str) -> ValidationResult:
        return ValidationResult(False, _error("invalid_prompt", message, f"Node ID '#{node_id}'"), [], {})

    # ------------------------------------------------------------------ node level
    def _validate_node(self, prompt: dict, node_id: Any, validated: dict) -> tuple[bool, list[dict]]:
        if node_id in validated:
            valid, reasons, _ = validated[node_id]
            return valid, reasons
        self._visiting.add(node_id)
        try:
            return self._validate_node_inputs(prompt, node_id, validated)
        finally:
            self._visiting.discard(node_id)

    def _validate_node_inputs(self, prompt: dict, node_id: Any, validated: dict) -> tuple[bool, list[dict]]:
        node = prompt[node_id]
        inputs = node["inputs"]
        class_type = node["class_type"]
        info = self.catalogue.node(class_type)
        assert info is not None
        custom = CUSTOM_FILE_VALIDATORS.get(class_type, {})
        errors: list[dict] = []
        valid = True

        spec_inputs = info.get("input", {})
        order = info.get("input_order", {})
        for category in ("required", "optional"):
            section = spec_inputs.get(category, {})
            names = list(order.get(category, [])) or list(section)
            names += [n for n in section if n not in names]
            for name in names:
                spec = section[name]
                input_type = spec[0]
                extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                config = [input_type, extra]
                if name not in inputs:
                    if category == "required":
                        errors.append(
                            _error("required_input_missing", "Required input is missing", name, {"input_name": name})
                        )
                    continue
                value = inputs[name]
                if isinstance(value, list):
                    problem = self._check_link(prompt, name, value, input_type, config, validated)
                    if problem == "upstream":
                        valid = False
                    elif problem is not None:
                        errors.append(problem)
                    continue
                problem = self._check_literal(inputs, name, value, input_type, extra, config, name in custom)
                if problem is not None:
                    errors.append(problem)

        for name, prefix in custom.items():
            value = inputs.get(name)
            if name in inputs and not isinstance(value, list) and not self._file_exists(str(value)):
                errors.append(
                    _error(
                        "custom_validation_failed",
                        "Custom validation failed for node",
                        f"{name} - {prefix}: {value}",
                        {"input_name": name},
                    )
                )

        result = (not errors and valid, errors)
        validated[node_id] = (result[0], errors, node_id)
        return result

    def _check_link(self, prompt, name, value, input_type, config, validated) -> Any:
        if len(value) != 2:
            return _error(
                "bad_linked_input",
                "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                name,
                {"input_name": name, "input_config": config, "received_value": value},
            )
        source_id, slot = value
        if source_id not in prompt:
            raise KeyError(source_id)
        received = tuple(self.catalogue.return_types(prompt[source_id]["class_type"]))[slot]
        if not types_compatible(received, input_type):
            return _error(
                "return_type_mismatch",
                "Return type mismatch between linked nodes",
                f"{name}, received_type({received}) mismatch input_type({input_type})",
                {"input_name": name, "input_config": config, "received_type": received, "linked_node": value},
            )
        if source_id in self._visiting:
            return _error(
                "dependency_cycle",
                "Dependency cycle detected",
                f"{name}, linked node {source_id}",
                {"input_name": name, "linked_node": value},
            )
        try:
            upstream_ok, _ = self._validate_node(prompt, source_id, validated)
        except Exception as exc:
            validated[source_id] = (
                False,
                [
                    _error(
                        "exception_during_inner_validation",
                        "Exception when validating inner node",
                        str(exc),
                        {
                            "input_name": name,
                            "input_config": config,
                            "exception_message": str(exc),
                            "exception_type": type_name(exc),
                            "traceback": traceback.format_tb(sys.exc_info()[2]),
                            "linked_node": value,
                        },
                    )
                ],
                source_id,
            )
            return "upstream"
        return None if upstream_ok else "upstream"

    @staticmethod
    def _check_literal(inputs, name, value, input_type, extra, config, custom_checked) -> dict | None:
        try:
            if isinstance(value, dict) and "__value__" in value:
                value = value["__value__"]
                inputs[name] = value
            converters = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}
            if isinstance(input_type, str) and input_type in converters:
                value = converters[input_type](value)
                inputs[name] = value
        except Exception as exc:
            return _error(
                "invalid_input_type",
                f"Failed to convert an input value to a {input_type} value",
                f"{name}, {value}, {exc}",
                {"input_name": name, "input_config": config, "received_value": value, "exception_message": str(exc)},
            )
        if custom_checked:
            return None
        base = {"input_name": name, "input_config": config, "received_value": value}
        if "min" in extra and value < extra["min"]:
            return _error("value_smaller_than_min", f"Value {value} smaller than min of {extra['min']}", name, base)
        if "max" in extra and value > extra["max"]:
            return _error("value_bigger_than_max", f"Value {value} bigger than max of {extra['max']}", name, base)
        if isinstance(input_type, list) or input_type == "COMBO":
            options = extra.get("options", []) if input_type == "COMBO" else input_type
            if extra.get("multiselect", False) and isinstance(value, list):
                bad = [v for v in value if v not in options]
            else:
                bad = [] if value in options else [value]
            if bad:
                shown_config: list | None = config
                if len(options) > 20:
                    listing = f"(list of length {len(options)})"
                    shown_config = None
                else:
                    listing = str(options)
                return _error(
                    "value_not_in_list",
                    "Value not in list",
                    f"{name}: '{value}' not in {listing}",
                    {"input_name": name, "input_config": shown_config, "received_value": value},
                )
        return None

    def _file_exists(self, annotated: str) -> bool:
        name, kind = split_annotation(annotated)
        base = self.directories.get(kind or "input")
        return base is not None and os.path.exists(os.path.join(base, name))
