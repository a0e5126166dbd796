"""Low-level LiteLLM proxy client: one method per endpoint Shotcaller uses.

Every failure leaves as a typed error of backends/base.py (see errors.py), never as a raw urllib
or socket exception; the key never leaves the proxy's host nor shows in an error (transport.py).

Here: health, models and chat (plain and streamed). The rest is split by endpoint family:
    transport.py  ProxyTransport (the key, JSON requests, cancellable SSE streams), Secret, DEFAULT_URL
    media.py      images and videos (GeneratedImage, VideoJob)
    audio.py      the transcription upload
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..base import BackendError, Cancelled, ProtocolError
from ..http import read_all
from .audio import MAX_TRANSCRIPTION_BYTES, TranscriptionRequests
from .errors import LITELLM, error_from_status, snippet
from .media import GeneratedImage, MediaRequests, VideoJob
from .transport import DEFAULT_URL, Secret, sse_events

__all__ = [
    "DEFAULT_URL",
    "MAX_TRANSCRIPTION_BYTES",
    "ChatAnswer",
    "GeneratedImage",
    "LiteLLMClient",
    "Message",
    "ModelEntry",
    "Secret",
    "StreamCallback",
    "VideoJob",
]

Message = Mapping[str, Any]


@dataclass(frozen=True)
class ChatAnswer:
    content: str
    finish_reason: str = ""
    model: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    tool_calls: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ModelEntry:
    id: str
    mode: str = ""  # "chat", "image_generation", ... when the proxy knows it


StreamCallback = Callable[[str], None]


class LiteLLMClient(MediaRequests, TranscriptionRequests):
    """Talks to one LiteLLM proxy. Holds no connection state, so one instance serves many threads."""

    def __repr__(self) -> str:
        return f"LiteLLMClient({self.base_url!r}, api_key={'set' if self._key else 'none'})"

    # --- health and models -------------------------------------------------------------------

    def liveliness(self) -> None:
        """Raise unless the proxy answers /health/liveliness (no key needed)."""
        with self._open("GET", "/health/liveliness", what="the liveliness check", auth=False) as response:
            read_all(response, self.base_url, LITELLM)

    def is_alive(self) -> bool:
        try:
            self.liveliness()
        except BackendError:
            return False
        return True

    def models(self) -> list[ModelEntry]:
        """The model groups this key may use (GET /v1/models)."""
        answer = self._json("GET", "/v1/models", what="the model list")
        data = answer.get("data")
        if not isinstance(data, list):
            raise ProtocolError(f"LiteLLM at {self.base_url} sent a model list without `data`: {snippet(str(answer))}")
        return [
            ModelEntry(str(item["id"]), str(item.get("mode") or ""))
            for item in data
            if isinstance(item, dict) and item.get("id")
        ]

    # --- chat ---------------------------------------------------------------------------------

    def chat(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> ChatAnswer:
        """One non-streaming chat completion."""
        body = _chat_body(model, messages, temperature, max_tokens, extra, stream=False)
        answer = self._json(
            "POST", "/v1/chat/completions", body=body, what="the chat request", model=model, timeout=timeout
        )
        choices = answer.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ProtocolError(f"LiteLLM at {self.base_url} answered without choices: {snippet(str(answer))}")
        choice: dict[str, Any] = choices[0]
        message = _as_dict(choice.get("message"))
        tool_calls = message.get("tool_calls")
        return ChatAnswer(
            content=str(message.get("content") or ""),
            finish_reason=str(choice.get("finish_reason") or ""),
            model=str(answer.get("model") or model),
            usage=_as_dict(answer.get("usage")),
            tool_calls=tuple(call for call in tool_calls if isinstance(call, dict))
            if isinstance(tool_calls, list)
            else (),
        )

    def chat_stream(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        on_delta: StreamCallback | None = None,
        cancel: threading.Event | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> ChatAnswer:
        """A streamed chat completion (SSE): `on_delta` gets each piece of text as it arrives.

        `timeout` is the longest silence between two pieces. Setting `cancel` closes the stream
        and raises Cancelled.
        """
        body = _chat_body(model, messages, temperature, max_tokens, extra, stream=True)
        parts: list[str] = []
        finish_reason = ""
        answer_model = model
        usage: dict[str, Any] = {}
        done = False
        with self._streaming(
            "POST", "/v1/chat/completions", body, what="the chat request", model=model, timeout=timeout, cancel=cancel
        ) as response:
            try:
                for data in sse_events(response):
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        raise ProtocolError(
                            f"LiteLLM at {self.base_url} sent a stream event that is not JSON: {snippet(data)}"
                        ) from None
                    if not isinstance(chunk, dict):
                        continue
                    if isinstance(chunk.get("error"), dict):  # an error after the first chunk
                        raise self._stream_error(chunk, model)
                    answer_model = str(chunk.get("model") or answer_model)
                    if isinstance(chunk.get("usage"), dict):
                        usage = chunk["usage"]
                    for choice in chunk.get("choices") or []:
                        if not isinstance(choice, dict):
                            continue
                        text = _as_dict(choice.get("delta")).get("content")
                        if isinstance(text, str) and text:
                            parts.append(text)
                            if on_delta is not None:
                                on_delta(text)
                        if choice.get("finish_reason"):
                            finish_reason = str(choice["finish_reason"])
            except Cancelled:
                raise Cancelled("the chat request was cancelled") from None
        if cancel is not None and cancel.is_set():
            raise Cancelled("the chat request was cancelled")
        if not done and not finish_reason:
            raise ProtocolError(
                f"LiteLLM at {self.base_url} ended the answer stream of '{model}' before it was complete",
                hint="The connection dropped or the provider stopped; try again.",
            )
        return ChatAnswer("".join(parts), finish_reason, answer_model, usage)

    def _stream_error(self, chunk: dict[str, Any], model: str) -> BackendError:
        error = chunk["error"]
        code = str(error.get("code") or "")
        if code.isdigit():
            status = int(code)
        elif "rate" in f"{code} {error.get('type') or ''}".lower() or error.get("type") == "throttling_error":
            status = 429
        else:
            status = 500
        return self._scrubbed(
            error_from_status(
                status,
                json.dumps(chunk).encode(),
                url=self.base_url,
                what="the chat request",
                model=model,
                has_key=self.has_key,
            )
        )


def _chat_body(
    model: str,
    messages: Sequence[Message],
    temperature: float | None,
    max_tokens: int | None,
    extra: Mapping[str, Any] | None,
    *,
    stream: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages], "stream": stream}
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    body.update(extra or {})
    return body


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
