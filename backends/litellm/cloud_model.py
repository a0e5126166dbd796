"""The image and video models a LiteLLM instance may use, and how a shot is fitted to one of them.

Which models it may use for which media is instance configuration (`CloudModel`): exact names, and
patterns that allow any model group the proxy lists under a matching name (discovery.py). Providers
make fixed sizes and lengths, so a shot asks for the closest size and the shortest length that
covers it; what the take records of the model is built here too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...shots import MediaKind, Quality, ShotSpec
from ..base import InvalidRequest

_SIZE_FORMAT = r"^\d{2,5}x\d{2,5}$"


class CloudModel(BaseModel):
    """One image or video model group on the proxy, as the instance's settings describe it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="the model_name (model group) on the proxy")
    media: MediaKind
    quality: Quality = Quality.FINAL
    label: str = ""
    sizes: tuple[str, ...] = Field(default=(), description="sizes it accepts, e.g. 1280x720; empty: the shot's own")
    seconds: tuple[int, ...] = Field(default=(), description="video lengths it accepts; empty: the shot's, rounded up")
    extra: dict[str, Any] = Field(default_factory=dict, description="more request fields (quality, style, ...)")
    local: bool = False  # served on this machine behind the proxy (no cloud involved)

    @field_validator("media")
    @classmethod
    def _image_or_video(cls, value: MediaKind) -> MediaKind:
        if value not in (MediaKind.IMAGE, MediaKind.VIDEO):
            raise ValueError("a LiteLLM cloud model makes images or videos")
        return value

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for size in value:
            if not re.match(_SIZE_FORMAT, size):
                raise ValueError(f"size '{size}' is not WIDTHxHEIGHT (like 1280x720)")
        return value

    @field_validator("seconds")
    @classmethod
    def _seconds(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(s <= 0 for s in value):
            raise ValueError("video lengths must be positive")
        return tuple(sorted(set(value)))

    @property
    def display_label(self) -> str:
        return self.label or f"{self.name} ({'local' if self.local else 'cloud'})"

    def label_behind(self, proxy_on_this_machine: bool) -> str:
        """The label, for a proxy at a loopback address: '(local proxy)' rather than '(cloud)' for a model
        not declared local, since where the proxy sends it is not known (it is still gated as cloud)."""
        if self.label or self.local or not proxy_on_this_machine:
            return self.display_label
        return f"{self.name} (local proxy)"


def cloud_models(entries: Iterable[dict[str, Any] | CloudModel]) -> list[CloudModel]:
    """CloudModels from plain settings, or InvalidRequest naming the entry and field that is wrong."""
    models: list[CloudModel] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, CloudModel):
            models.append(entry)
            continue
        try:
            models.append(CloudModel.model_validate(entry))
        except ValidationError as exc:
            name = entry.get("name") if isinstance(entry, dict) else None
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg'].removeprefix('Value error, ')}"
                for err in exc.errors()
            )
            raise InvalidRequest(
                f"LiteLLM model #{index + 1} ({name or '?'}) is misconfigured: {problems}",
                hint="Fix it in Shotcaller's LiteLLM preferences.",
            ) from None
    return models


def choose_size(width: int, height: int, sizes: Sequence[str]) -> str:
    """The shot's size, or among `sizes` the one closest in aspect ratio (then in area)."""
    if not sizes:
        return f"{width}x{height}"
    wanted = math.log(width / height)

    def distance(size: str) -> tuple[float, float]:
        w, h = (int(part) for part in size.split("x"))
        return abs(math.log(w / h) - wanted), abs(math.log((w * h) / (width * height)))

    return min(sizes, key=distance)


def choose_seconds(duration: float, allowed: Sequence[int]) -> int:
    """The shortest allowed length that covers the shot, else the longest (whole seconds up)."""
    needed = max(1, math.ceil(duration - 1e-6))
    if not allowed:
        return needed
    covering = [s for s in allowed if s >= needed]
    return min(covering) if covering else max(allowed)


def stated_seconds(message: str) -> tuple[int, ...]:
    """The lengths a provider's refusal lists ("Supported values are: '4', '8', '12'"), if it does."""
    match = re.search(r"[Ss]upported values are:?\s*(.+)", message)
    if not match:
        return ()
    return tuple(sorted({int(value) for value in re.findall(r"'(\d+)'", match.group(1))}))


def take_parameters(
    model: CloudModel, spec: ShotSpec, server_url: str, instance_id: str, **values: Any
) -> dict[str, Any]:
    """What a take records of its request: the values sent, the model's extra fields, where it ran,
    and the shot's fields the provider has no use for."""
    ignored = [name for name, used in (("negative_prompt", spec.negative_prompt), ("seed", spec.seed)) if used]
    return {
        **values,
        **model.extra,
        "server_url": server_url,
        "backend_instance": instance_id,
        "cloud": not model.local,
        **({"ignored": ignored} if ignored else {}),
    }
