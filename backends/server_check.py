"""What a server test finds (the preferences' Test button): reachable or not and why, its version,
free memory, and which bundled templates or models it can run, naming each missing file.

Runs on a worker thread with a backend built from one server's settings; no bpy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Backend, BackendError, CredentialsRefused

GB = 1024**3


@dataclass(frozen=True)
class ServerCheck:
    reachable: bool
    lines: tuple[str, ...]
    refused: bool = False  # it answered, and refused the credentials (HTTP 401/403): not "unreachable"

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def check_server(backend: Backend) -> ServerCheck:
    """Ask the server what it is and what it can run. Never raises: a failure is the finding."""
    name = backend.display_name
    try:
        probe = backend.probe()  # type: ignore[attr-defined]
    except CredentialsRefused as exc:
        return ServerCheck(False, tuple(line for line in (f"{name} answered: {exc.message}", exc.hint) if line), True)
    except BackendError as exc:
        return ServerCheck(False, tuple(line for line in (f"{name} is not reachable: {exc.message}", exc.hint) if line))
    except Exception as exc:  # a bug or an unexpected answer is still something to show, not a crash
        return ServerCheck(False, (f"{name} could not be checked: {type(exc).__name__}: {exc}",))
    lines = [f"{name} is reachable at {getattr(probe, 'url', '')}."]
    credentials = getattr(getattr(getattr(backend, "client", None), "policy", None), "credentials", None)
    if credentials is not None and credentials.kinds():
        lines.append(f"It accepted {' and '.join(credentials.kinds())} (from {credentials.where}).")
    try:
        lines += _details(backend, probe)
    except CredentialsRefused as exc:  # a proxy letting /system_stats through but not the rest
        return ServerCheck(False, (*lines, f"Then it refused: {exc.message}", exc.hint), True)
    except BackendError as exc:
        lines += [f"It answered, but checking what it can run failed: {exc.message}", exc.hint]
    return ServerCheck(True, tuple(line for line in lines if line))


def _details(backend: Any, probe: Any) -> list[str]:
    kind = getattr(backend, "kind", "")
    if kind == "comfyui":
        return _comfyui(backend, probe)
    if kind == "wan2gp":
        return _wan2gp(backend, probe)
    if kind == "litellm":
        missing = list(probe.missing)
        lines = [f"It lists {len(probe.models)} model(s) for this key."]
        if missing:
            lines.append(f"Not listed for this key: {', '.join(missing)}.")
        return lines
    return []


def _comfyui(backend: Any, probe: Any) -> list[str]:
    lines = [f"ComfyUI {probe.version or '(version not given)'} on {probe.device_name or 'an unnamed device'}."]
    if probe.vram_total:
        lines.append(f"{probe.vram_free / GB:.1f} of {probe.vram_total / GB:.1f} GB of video memory free.")
    lines.append(f"{probe.queue_length} prompt(s) in its queue.")
    info, _ = backend._object_info(refresh=True)
    ready, missing = [], []
    for template in backend.templates.values():
        problem = backend._missing_resource(template, info)
        if problem is None:
            ready.append(template.label or template.name)
        else:
            missing.append(f"{template.label or template.name}: {problem.message}")
    lines.append(f"Can run: {', '.join(ready)}." if ready else "Can run none of the templates.")
    lines += [f"Cannot run {entry}" for entry in missing]
    lines += [f"Broken template: {problem}" for problem in backend.template_problems]
    return lines


def _wan2gp(backend: Any, probe: Any) -> list[str]:
    lines = [f"{probe.server_name or 'Wan2GP'} {probe.server_version} (MCP {probe.protocol_version})."]
    if probe.missing_tools:
        lines.append(f"It lacks the tools {', '.join(probe.missing_tools)}: update Wan2GP.")
    missing = backend.missing_offers()
    ready = [preset.label or name for name, preset in backend.presets.items() if name not in missing]
    lines.append(f"Can run: {', '.join(ready)}." if ready else "Can run none of the presets.")
    lines += [f"Cannot run {name}: {reason}" for name, reason in missing.items()]
    return lines
