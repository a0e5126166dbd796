"""What a Wan2GP server says it can make: its video models, their schemas and whether their weights are there.

Real Wan2GP 12.60 lists 144 models (wangp_list_models, ten a page, with `availability` on request).
Shotcaller's built-in tiers (settings.PRESETS) name four of them; every other video model that
makes videos from text and whose weights the server has already downloaded becomes an offer of its
own, with its fps, frame lattice, frame limit and start-image support from wangp_get_model_schema,
so a model new to Wan2GP is routable without a new Shotcaller release. Models whose weights are not
there are left out (a first use downloads tens of GB, which a tier chosen by the user may do, but
routing never should on its own). A server that cannot list its models keeps the built-in tiers.

Quality and memory are not in the schema: a model counts as a draft when its name says it is a
small or distilled one (1.3B, FastWan, Lightning, Distilled, Turbo), as a final otherwise; its VRAM
need is guessed from its parameter count in the name (the built-in table's figures follow the same
line), 8 GB when the name has none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...shots import Quality
from ..base import BackendError
from .client import Wan2GPClient
from .models import MODELS, PIXELS_720P, WanModel, learn_model, wan_model
from .presets import Wan2GPPreset

_DRAFT_WORDS = re.compile(r"1\.3b|fast|lightning|distill|turbo|\blite\b|_sf\b", re.IGNORECASE)
_BILLIONS = re.compile(r"(\d+(?:\.\d+)?)\s*B\b")
DISCOVERED_PREFIX = "wan2gp_"


@dataclass(frozen=True)
class ServerModels:
    """One look at a server's models: offers beyond the built-in tiers, and built-in offers it cannot make."""

    presets: tuple[Wan2GPPreset, ...] = ()
    missing: Mapping[str, str] = field(default_factory=dict)  # built-in offer name -> why not
    listed: int = 0  # video models the server listed


def discover_models(client: Wan2GPClient, builtin: Iterable[Wan2GPPreset]) -> ServerModels:
    """Ask the server (network, several calls). Raises BackendError only if the server does not answer."""
    try:
        records = [r for r in client.iter_models(main_output="video", include_availability=True) if _is_video(r)]
    except BackendError as exc:
        if _unreachable(exc):
            raise
        return ServerModels()  # an older server without the listing tools: the built-in tiers only
    by_type = {str(r.get("model_type")): r for r in records}
    missing: dict[str, str] = {}
    used: set[str] = set()
    for preset in builtin:
        for model in preset.models:
            used.add(model.model_type)
            if model.model_type not in by_type and preset.name not in missing:
                missing[preset.name] = (
                    f"Wan2GP at {client.origin} does not have the model {model.model_type} ({model.name})"
                )
    presets = []
    for model_type, record in sorted(by_type.items()):
        if model_type in used or model_type in MODELS or not _makes_video_from_text(record):
            continue
        if not (isinstance(record.get("availability"), Mapping) and record["availability"].get("available") is True):
            continue
        try:
            model = wan_model(model_type)  # described by a server before: model facts do not change
        except KeyError:
            metadata = client.get_model_schema(model_type)
            if metadata is None:
                continue
            model = model_from_schema(model_type, {**record, **metadata})
            learn_model(model)
        presets.append(preset_for(model))
    return ServerModels(tuple(presets), missing, len(records))


def model_from_schema(model_type: str, metadata: Mapping[str, Any]) -> WanModel:
    """A model's facts from its record and schema (numbers that are not sane fall back to Wan's)."""
    name = str(metadata.get("name") or model_type)
    inputs = metadata.get("media_inputs")
    image = inputs.get("image") if isinstance(inputs, Mapping) else None
    billions = _BILLIONS.search(name)
    base = round(2.5 + 0.4 * float(billions.group(1)), 1) if billions else 8.0
    return WanModel(
        model_type=model_type,
        name=name,
        fps=_whole(metadata.get("fps"), 16),
        frames_minimum=_whole(metadata.get("frames_minimum"), 5),
        frames_steps=_whole(metadata.get("frames_steps"), 4),
        frames_maximum=_whole(metadata.get("frames_maximum"), 97),
        max_pixels=PIXELS_720P,
        takes_start_image=bool(isinstance(image, Mapping) and image.get("start")),
        sliding_window=metadata.get("sliding_window") is True,  # long shots in one job (segments.py)
        vram_base_gb=base,
        vram_per_megapixel_frame_gb=0.1,
    )


def preset_for(model: WanModel) -> Wan2GPPreset:
    quality = Quality.DRAFT if _DRAFT_WORDS.search(f"{model.model_type} {model.name}") else Quality.FINAL
    return Wan2GPPreset(
        f"{DISCOVERED_PREFIX}{model.model_type}",
        f"{model.name} (Wan2GP)",
        quality,
        model.model_type,
        model.model_type if model.takes_start_image else None,
        steps=0,  # the model's own default: the server knows it, Shotcaller does not
    )


def _is_video(record: Any) -> bool:
    return isinstance(record, Mapping) and isinstance(record.get("model_type"), str)


def _makes_video_from_text(record: Mapping[str, Any]) -> bool:
    capabilities = record.get("capabilities")
    outputs = record.get("main_output")
    return (
        isinstance(capabilities, Mapping)
        and capabilities.get("text_to_video") is True
        and isinstance(outputs, list)
        and "video" in outputs
    )


def _unreachable(exc: BackendError) -> bool:
    return exc.kind in ("unreachable", "busy")


def _whole(value: Any, fallback: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return fallback
    return int(value)
