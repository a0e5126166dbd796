"""Shots and takes: the plain data every other layer passes around.

Never imports bpy. A ShotSpec is read from a strip on the main thread and is
the only thing worker threads ever see of Blender.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class MediaKind(StrEnum):
    VIDEO = "video"
    IMAGE = "image"
    AUDIO = "audio"
    MUSIC = "music"


class Quality(StrEnum):
    DRAFT = "draft"
    FINAL = "final"


class ShotError(ValueError):
    """A shot's own settings are wrong; the user fixes them, no backend can."""


def new_shot_id() -> str:
    return uuid.uuid4().hex


class ShotSpec(BaseModel):
    """What to generate for one shot. Frozen: safe to hand to any thread."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shot_id: str = Field(min_length=8)
    label: str = ""  # the strip's name at submission, for messages only
    prompt: str
    negative_prompt: str = ""
    media: MediaKind = MediaKind.VIDEO
    quality: Quality = Quality.DRAFT
    seed: int = Field(default=0, ge=0, le=2**53)
    width: int = Field(default=832, ge=16, le=8192)
    height: int = Field(default=480, ge=16, le=8192)
    fps: float = Field(default=24.0, gt=0, le=240)
    frame_count: int = Field(default=49, ge=1, le=100_000)
    init_image: str | None = None
    backend_pin: str | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the prompt is empty: write what the shot should show")
        return value.strip()

    @property
    def duration_seconds(self) -> float:
        return self.frame_count / self.fps

    def describe(self) -> str:
        name = self.label or self.shot_id[:8]
        return f"shot '{name}'"


class Take(BaseModel):
    """One generated version of a shot, with everything needed to explain and redo it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    take_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    shot_id: str
    media: MediaKind
    files: tuple[str, ...]
    backend_kind: str
    backend_instance: str
    template: str
    model: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    quality: Quality = Quality.DRAFT
    routing_reason: str = ""
    server_job_id: str = ""
    submitted_at: float = Field(default_factory=time.time)
    started_at: float = 0.0
    finished_at: float = 0.0

    @model_validator(mode="after")
    def _has_files(self) -> Take:
        if not self.files:
            raise ValueError("a take needs at least one file")
        return self

    @property
    def primary_file(self) -> str:
        return self.files[0]

    @property
    def generation_seconds(self) -> float:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return 0.0


def make_spec(**fields: Any) -> ShotSpec:
    """Build a ShotSpec, turning pydantic's error into one sentence a filmmaker can act on."""
    from pydantic import ValidationError

    try:
        return ShotSpec(**fields)
    except ValidationError as exc:
        label = fields.get("label") or str(fields.get("shot_id", ""))[:8] or "?"
        problems = "; ".join(_plain_error(err) for err in exc.errors())
        raise ShotError(f"shot '{label}': {problems}") from None


def _plain_error(err: Any) -> str:
    field = ".".join(str(part) for part in err.get("loc", ()))
    message = str(err.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    return f"{field}: {message}" if field else message


def closest_name(wanted: str, names: list[str]) -> str | None:
    """The name in `names` most like `wanted` (ignoring case), for "did you mean ...?"; None if none is close."""
    import difflib

    folded = {name.casefold(): name for name in names}
    if wanted.casefold() in folded:
        return folded[wanted.casefold()]
    found = difflib.get_close_matches(wanted.casefold(), list(folded), n=1, cutoff=0.5)
    if found:
        return folded[found[0]]
    contained = [name for key, name in folded.items() if wanted.casefold() in key or key in wanted.casefold()]
    return contained[0] if contained else None
