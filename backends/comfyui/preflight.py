"""The checks before a prompt is sent: does the server have every node type, model file and choice
the template's workflow needs? Read from /object_info, cached for a short while (it is large)."""

from __future__ import annotations

import threading
import time
from typing import Any

from ..base import MissingResource
from .client import ComfyUIClient
from .workflow import ComfyTemplate


class PreflightChecks:
    """The preflight of ComfyUIBackend (which sets these attributes in its __init__)."""

    client: ComfyUIClient
    base_url: str
    object_info_ttl: float
    _object_info_lock: threading.Lock
    _object_info_cache: tuple[float, dict[str, Any]] | None

    def preflight(self, template: ComfyTemplate) -> None:
        """Raise MissingResource unless the server has every node type, model file and choice the template needs."""
        info, fresh = self._object_info()
        problem = self._missing_resource(template, info)
        if problem is not None and not fresh:
            # The user may just have installed the model: look again before blaming the server.
            info, _ = self._object_info(refresh=True)
            problem = self._missing_resource(template, info)
        if problem is not None:
            raise problem

    def _object_info(self, *, refresh: bool = False) -> tuple[dict[str, Any], bool]:
        # One lock for the fetch too: several workers starting at once share one large download.
        with self._object_info_lock:
            cached = self._object_info_cache
            now = time.monotonic()
            if not refresh and cached is not None and now - cached[0] < self.object_info_ttl:
                return cached[1], False
            info = self.client.object_info()
            self._object_info_cache = (time.monotonic(), info)
            return info, True

    def _missing_resource(self, template: ComfyTemplate, info: dict[str, Any]) -> MissingResource | None:
        """Everything the server lacks for the template, in one error: a studio installs it all in one round."""
        nodes = [
            f"'{class_type}' (node {node_id})"
            for node_id, class_type in template.node_classes.items()
            if class_type not in info
        ]
        files: list[str] = []
        folders: list[str] = []
        for model in template.required_models:
            options = combo_options(info.get(model.class_type), model.input_name)
            if options is not None and model.filename not in options:
                files.append(
                    f"{model.filename} in models/{model.folder}/ (input {model.input_name} of"
                    f" {model.class_type} node {model.node_id})"
                )
                folders.append(model.folder)
        if nodes or files:
            return self._missing_error(template, nodes, files, sorted(set(folders)))
        return self._api_nodes_without_key(template, info) or self._unoffered_choice(template, info)

    def _api_nodes_without_key(self, template: ComfyTemplate, info: dict[str, Any]) -> MissingResource | None:
        """A template with ComfyUI API nodes on a server whose entry has no comfy.org key: refused
        before it is sent (the server would run the workflow up to that node, then fail)."""
        credentials = self.client.policy.credentials
        if credentials.comfy_api_key:
            return None
        api_nodes = [
            f"{class_type} (node {node_id})"
            for node_id, class_type in template.node_classes.items()
            if needs_comfy_api_key(info.get(class_type))
        ]
        if not api_nodes:
            return None
        return MissingResource(
            f"template '{template.name}' uses ComfyUI API nodes ({', '.join(api_nodes)}), which need a comfy.org"
            f" API key, and {credentials.server or 'this server'} has none",
            hint=f"Enter the account's API key (from platform.comfy.org) as the comfy.org API key in"
            f" {credentials.where}, or choose another template.",
        )

    def _missing_error(
        self, template: ComfyTemplate, nodes: list[str], files: list[str], folders: list[str]
    ) -> MissingResource:
        parts = []
        if files:
            parts.append(f"{_count(len(files), 'model file')}: " + "; ".join(files))
        if nodes:
            parts.append(f"{_count(len(nodes), 'node type')}: " + ", ".join(nodes))
        fixes = []
        if files:
            where = ", ".join(f"ComfyUI/models/{folder}/" for folder in folders)
            fixes.append(f"put each model file in the folder named ({where}) on that machine")
        if nodes:
            fixes.append("install the custom node packs that provide the node types (ComfyUI-Manager can find them)")
        return MissingResource(
            f"ComfyUI at {self.base_url} lacks what template '{template.name}' needs: " + "; and ".join(parts),
            hint=_sentence(" and ".join(fixes) + ", then restart ComfyUI; or choose another template"),
        )

    def _unoffered_choice(self, template: ComfyTemplate, info: dict[str, Any]) -> MissingResource | None:
        model_inputs = {(m.node_id, m.input_name) for m in template.required_models}
        for node_id, node in template.workflow_copy().items():
            class_type = str(node["class_type"])
            for input_name, value in node["inputs"].items():
                key = (node_id, input_name)
                if key in model_inputs or key in template.bound_inputs or not isinstance(value, str):
                    continue
                options = combo_options(info.get(class_type), input_name)
                if options is not None and value not in options:
                    shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
                    return MissingResource(
                        f"ComfyUI at {self.base_url} does not offer '{value}' for input {input_name} of"
                        f" node {node_id} ({class_type}) of template '{template.name}' (it offers: {shown})",
                        hint="The template was made for a newer ComfyUI or a node pack this server lacks:"
                        " update ComfyUI, or choose another template.",
                    )
        return None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def combo_options(node_info: Any, input_name: str) -> list[str] | None:
    """The choices of a combo input in /object_info, in the legacy or the v3 "COMBO" form."""
    if not isinstance(node_info, dict) or not isinstance(node_info.get("input"), dict):
        return None
    for section in ("required", "optional"):
        spec = (node_info["input"].get(section) or {}).get(input_name)
        if not isinstance(spec, list) or not spec:
            continue
        if isinstance(spec[0], list):
            return [str(option) for option in spec[0]]
        if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
            return [str(option) for option in spec[1].get("options") or []]
    return None


def needs_comfy_api_key(node_info: Any) -> bool:
    """A node of ComfyUI's API nodes (paid services through comfy.org): /object_info marks them
    `api_node`, and they take the key as the hidden input api_key_comfy_org."""
    if not isinstance(node_info, dict):
        return False
    if node_info.get("api_node") is True:
        return True
    inputs = node_info.get("input")
    hidden = inputs.get("hidden") if isinstance(inputs, dict) else None
    if not isinstance(hidden, dict):
        return False
    # Older servers name the hidden input freely ("comfy_api_key") but type it API_KEY_COMFY_ORG.
    types = [spec[0] if isinstance(spec, list) and spec else spec for spec in hidden.values()]
    return "api_key_comfy_org" in hidden or "API_KEY_COMFY_ORG" in types
