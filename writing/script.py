"""Script to shots: a language model turns a script into a validated shot list with frame counts."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..backends.base import BackendError, Cancelled
from ..shots import MediaKind
from .common import ChatClient, WritingError, extract_json, writing_error
from .prompts import SCRIPT_RETRY, SCRIPT_SYSTEM

MAX_NAME = 63  # Blender's name limit (bytes; ASCII assumed for the count)
MIN_SECONDS, MAX_SECONDS = 0.5, 60.0
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:s|sec|secs|second|seconds)?\s*$", re.IGNORECASE)


class ShotDraft(BaseModel):
    """One shot of a generated shot list. `frames` is set by script_to_shots for the scene's fps."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    name: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    negative_prompt: str = ""
    seconds: float = Field(
        ge=MIN_SECONDS, le=MAX_SECONDS, validation_alias=AliasChoices("seconds", "duration", "duration_seconds")
    )
    media: MediaKind = MediaKind.VIDEO
    frames: int = Field(default=0, ge=0)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = " ".join(value.split())[:MAX_NAME].strip()
        return value

    @field_validator("prompt", "negative_prompt", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is None:
            return ""
        return " ".join(value.split()) if isinstance(value, str) else value

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        if isinstance(value, str):  # "3", "3.5s", "4 seconds"
            match = _NUMBER.match(value)
            if match:
                return float(match.group(1))
        return value

    @field_validator("media", mode="before")
    @classmethod
    def _media(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            return {"still": "image", "picture": "image", "photo": "image", "clip": "video"}.get(lowered, lowered)
        return value


class _ShotList(BaseModel):
    model_config = ConfigDict(extra="ignore")

    shots: list[ShotDraft] = Field(min_length=1)


def parse_shot_list(answer: str, *, max_shots: int = 200) -> list[ShotDraft]:
    """The shots in a model's answer (fenced or bare JSON; `{"shots": [...]}` or a bare list).

    ValueError with every problem, phrased for the model to fix, if the answer is not a valid list.
    """
    try:
        value = extract_json(answer)
    except ValueError as exc:
        raise ValueError(f"{exc}; answer with JSON only") from None
    if isinstance(value, list):
        value = {"shots": value}
    if not isinstance(value, dict) or "shots" not in value:
        raise ValueError('the JSON has no "shots" list')
    try:
        shots = _ShotList.model_validate(value).shots
    except ValidationError as exc:
        raise ValueError(_problems(exc)) from None
    if len(shots) > max_shots:
        raise ValueError(f"there are {len(shots)} shots; use at most {max_shots}")
    return shots


def _problems(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors()[:12]:
        loc = err.get("loc", ())
        where = f"shot {int(loc[1]) + 1}" if len(loc) > 1 and loc[0] == "shots" else "the list"
        field = ".".join(str(part) for part in loc[2:]) or ".".join(str(p) for p in loc)
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{where}, {field}: {message}")
    more = len(exc.errors()) - 12
    return "; ".join(lines) + (f"; and {more} more" if more > 0 else "")


def script_to_shots(
    client: ChatClient,
    model: str,
    script: str,
    fps: float,
    *,
    max_shots: int = 60,
    on_text: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    temperature: float | None = 0.3,
    timeout: float | None = None,
) -> list[ShotDraft]:
    """A shot list for `script`, each shot's `frames` = its seconds at `fps` (at least 1).

    The answer is streamed (`on_text` gets each piece, e.g. for a live character count). If it is
    not a valid shot list, the model is asked once more with the problems; then WritingError.
    """
    if not script.strip():
        raise WritingError("the script is empty", hint="Pick a text datablock with the script, or paste it.")
    if fps <= 0:
        raise WritingError(f"the frame rate {fps} is not positive", hint="Check the scene's frame rate.")
    messages: list[dict[str, str]] = [
        {
            "role": "system",
            "content": SCRIPT_SYSTEM.format(min_seconds=MIN_SECONDS, max_seconds=MAX_SECONDS, max_shots=max_shots),
        },
        {"role": "user", "content": script.strip()},
    ]
    problem = ""
    for attempt in (1, 2):
        try:
            answer = client.chat_stream(
                model, messages, on_delta=on_text, cancel=cancel, temperature=temperature, timeout=timeout
            )
        except BackendError as exc:
            if isinstance(exc, WritingError | Cancelled):
                raise
            raise writing_error(exc, "Script to Shots") from None
        try:
            drafts = parse_shot_list(answer.content, max_shots=max_shots)
        except ValueError as exc:
            problem = str(exc)
            if answer.finish_reason == "length":
                problem += " (the answer was cut off at the model's length limit)"
            if attempt == 1:
                messages += [
                    {"role": "assistant", "content": answer.content},
                    {"role": "user", "content": SCRIPT_RETRY.format(error=problem)},
                ]
            continue
        return [d.model_copy(update={"frames": max(1, round(d.seconds * fps))}) for d in _unique_names(drafts)]
    raise WritingError(
        f"model '{model}' did not return a usable shot list, even when asked again: {problem}",
        hint="Try again, use a stronger writing model, or convert a shorter part of the script.",
    )


def _unique_names(drafts: list[ShotDraft]) -> list[ShotDraft]:
    seen: dict[str, int] = {}
    unique = []
    for draft in drafts:
        count = seen.get(draft.name.lower(), 0) + 1
        seen[draft.name.lower()] = count
        if count > 1:
            suffix = f" {count}"
            draft = draft.model_copy(update={"name": draft.name[: MAX_NAME - len(suffix)] + suffix})
        unique.append(draft)
    return unique


def timeline(drafts: list[ShotDraft], start_frame: int) -> list[tuple[ShotDraft, int, int]]:
    """(draft, frame_start, frame_end exclusive) placing the shots one after another from start_frame."""
    placed = []
    frame = start_frame
    for draft in drafts:
        length = max(1, draft.frames)
        placed.append((draft, frame, frame + length))
        frame += length
    return placed
