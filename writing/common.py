"""What the writing tools share: the chat client they need, their error, JSON out of prose."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..backends.base import BackendError
from ..backends.litellm.client import ChatAnswer


class WritingError(BackendError):
    """The model answered, but not with something usable (after the one allowed second try)."""

    failover = False
    kind = "writing"


class ChatClient(Protocol):
    """The part of LiteLLMClient the writing tools use (tests may pass a look-alike)."""

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        temperature: float | None = ...,
        max_tokens: int | None = ...,
        extra: Mapping[str, Any] | None = ...,
        timeout: float | None = ...,
    ) -> ChatAnswer: ...

    def chat_stream(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        on_delta: Callable[[str], None] | None = ...,
        cancel: threading.Event | None = ...,
        temperature: float | None = ...,
        max_tokens: int | None = ...,
        extra: Mapping[str, Any] | None = ...,
        timeout: float | None = ...,
    ) -> ChatAnswer: ...


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)


def extract_json(text: str) -> Any:
    """The JSON value in a model's answer: a fenced block (```json ...```), the bare answer, or the
    first object or array inside prose. ValueError if there is none."""
    text = (text or "").strip()
    if not text:
        raise ValueError("the answer is empty")
    candidates = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "json", "json5", "javascript")]
    candidates.append(text)
    for candidate in candidates:
        try:
            return json.loads(candidate.strip())
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    first_error: str | None = None
    for index, char in enumerate(text):
        if char not in "{[":
            continue
        try:
            value, _ = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            first_error = first_error or f"{exc.msg} (line {exc.lineno} column {exc.colno})"
            continue
        if isinstance(value, dict | list):
            return value
    if first_error:
        raise ValueError(f"the JSON in the answer is malformed: {first_error}")
    raise ValueError("the answer contains no JSON")
