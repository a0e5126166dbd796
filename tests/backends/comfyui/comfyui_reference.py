"""Helpers for the ComfyUIBackend tests on the reference ComfyUI server (devservers/comfyui): a backend
on it, its JSON endpoints read directly, shot requests for each media kind, steps of the bar."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from comfyui_doubles import Recorder

from shotcaller.backends.base import GenerationRequest, Offer
from shotcaller.backends.comfyui import ComfyUIBackend
from shotcaller.backends.comfyui.templates import BUNDLED_TEMPLATE_DIR
from shotcaller.shots import MediaKind, Quality, make_spec

reference_launch = pytest.importorskip("devservers.comfyui.launch")


def server_json(server, path: str) -> Any:
    with urllib.request.urlopen(server.url + path, timeout=10) as response:
        return json.loads(response.read())


def reference_backend(server, **options: Any) -> ComfyUIBackend:
    options.setdefault("poll_interval", 0.1)
    return ComfyUIBackend("reference", server.url, [BUNDLED_TEMPLATE_DIR], timeout=10, **options)


def single_history_entry(server, timeout: float = 10.0) -> tuple[str, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = server_json(server, "/history")
        if history:
            [(prompt_id, entry)] = history.items()
            if entry.get("status"):
                return prompt_id, entry
        time.sleep(0.05)
    raise AssertionError("the reference server recorded no finished prompt")


def shot_request(
    output_dir: Path,
    template: str,
    media: MediaKind,
    quality: Quality = Quality.DRAFT,
    stem: str | None = None,
    **fields: Any,
) -> GenerationRequest:
    values = {
        "shot_id": "e" * 32,
        "label": "Harbour",
        "prompt": "a harbour at dawn, gulls",
        "media": media,
        "quality": quality,
        "width": 64,
        "height": 48,
        "frame_count": 9,
        "fps": 16.0,
        "seed": 42,
    }
    values.update(fields)
    return GenerationRequest(
        spec=make_spec(**values),
        offer=Offer(template, media, quality),
        output_dir=str(output_dir),
        file_stem=stem or template,
    )


def solid_png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Path:
    from PIL import Image

    Image.new("RGB", size, colour).save(path)
    return path


def step_fractions(report: Recorder, node: str) -> list[float]:
    """The bar's value when each sampler step of one node was first reported, in order."""
    first: dict[str, float] = {}
    for update in report.updates:
        if f"(node {node}) step" in update.message:
            first.setdefault(update.message, update.fraction)
    return list(first.values())
