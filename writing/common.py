"""What the writing tools share: the chat client they need, their error, JSON out of prose."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..backends.base import BackendBusy, BackendError, OutOfMemory
from ..backends.litellm.client import ChatAnswer


class WritingError(BackendError):
    """The model answered, but not with something usable (after the one allowed second try)."""

    failover = False
    kind = "writing"


_GENERATION_WORDS = ("backend", "the shot", "generate again", "template")


def writing_error(exc: BackendError, tool: str) -> BackendError:
    """The proxy's error with a hint for a writing tool. Hints written for generation speak of other
    backends taking the shot, which a writing tool never does: those are replaced; the message, and
    hints that hold for writing too (start the proxy, shorten the text), are kept."""
    if isinstance(exc, BackendBusy):
        hint = f"Wait a moment and press {tool} again; nothing was changed."
    elif isinstance(exc, OutOfMemory):
        hint = f"The writing model's server is out of memory: choose a smaller writing model, or try {tool} later."
    elif any(word in exc.hint.lower() for word in _GENERATION_WORDS):
        hint = (
            "Nothing was changed. Check the Writing model in Shotcaller's preferences (it must be a chat model"
            f" the proxy serves), then press {tool} again; the proxy's log has the details."
        )
    else:
        return exc
    error = copy.copy(exc)  # same kind, same message, the proxy's key already scrubbed from it
    error.hint = hint
    return error


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
