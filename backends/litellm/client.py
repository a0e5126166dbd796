"""Low-level LiteLLM proxy client: one method per endpoint Shotcaller uses.

Stdlib urllib only (it ships with Blender). Every failure leaves as a typed error of
backends/base.py (see errors.py), never as a raw urllib or socket exception.

The key is sent as `Authorization: Bearer <key>` and nowhere else: it is held in a `Secret` whose
repr is '***', is never logged, and any text a server sends back is scrubbed of it before it goes
into an error message. It is sent only to the proxy's own host, never to a URL the proxy returns.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..base import BackendError, Cancelled, InvalidRequest, ProtocolError
from ..files import write_atomically
from ..http import (
    READ_ERRORS,
    ErrorAnswer,
    json_object,
    json_request,
    multipart,
    read_all,
    read_init_image,
    send,
    stream,
    transport_error,
)
from .errors import LITELLM, error_from_status, snippet

DEFAULT_URL = "http://127.0.0.1:4000"
MAX_TRANSCRIPTION_BYTES = 25 * 1024 * 1024  # OpenAI's limit; most providers behind LiteLLM share it

Message = Mapping[str, Any]


class Secret:
    """A string that never shows itself: repr and str are '***'. `reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value or ""

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "'***'" if self._value else "''"

    __str__ = __repr__


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


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes | None = None  # decoded b64_json
    url: str = ""  # or a URL to fetch it from
    revised_prompt: str = ""


@dataclass(frozen=True)
class VideoJob:
    """OpenAI's Video object as the proxy returns it (`id` is LiteLLM's encoded id)."""

    id: str
    status: str  # queued | in_progress | completed | failed
    progress: float = 0.0  # 0..100
    model: str = ""
    seconds: str = ""
    size: str = ""
    error: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed", "cancelled", "expired")


StreamCallback = Callable[[str], None]


class LiteLLMClient:
    """Talks to one LiteLLM proxy. Holds no connection state, so one instance serves many threads."""

    def __init__(self, base_url: str = DEFAULT_URL, api_key: str | Secret = "", *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._key = api_key if isinstance(api_key, Secret) else Secret(api_key)

    def __repr__(self) -> str:
        return f"LiteLLMClient({self.base_url!r}, api_key={'set' if self._key else 'none'})"

    @property
    def has_key(self) -> bool:
        return bool(self._key)

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
                for data in _sse_events(response):
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
            except READ_ERRORS as exc:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("the chat request was cancelled") from None
                raise transport_error(exc, self.base_url, LITELLM) from exc
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

    # --- images -------------------------------------------------------------------------------

    def generate_images(
        self,
        model: str,
        prompt: str,
        *,
        size: str | None = None,
        n: int = 1,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> list[GeneratedImage]:
        """POST /v1/images/generations; each image as bytes (b64_json) or a URL to fetch."""
        body: dict[str, Any] = {"model": model, "prompt": prompt, "n": n}
        if size:
            body["size"] = size
        body.update(extra or {})
        answer = self._json(
            "POST", "/v1/images/generations", body=body, what="the image request", model=model, timeout=timeout
        )
        data = answer.get("data")
        if not isinstance(data, list) or not data:
            raise ProtocolError(
                f"LiteLLM at {self.base_url} answered the image request of '{model}' without images:"
                f" {snippet(str(answer))}"
            )
        images: list[GeneratedImage] = []
        for item in data:
            if not isinstance(item, dict):
                continue
            revised = str(item.get("revised_prompt") or "")
            if item.get("b64_json"):
                try:
                    images.append(GeneratedImage(base64.b64decode(item["b64_json"], validate=True), "", revised))
                except ValueError:
                    raise ProtocolError(f"LiteLLM at {self.base_url} sent an image that is not valid base64") from None
            elif isinstance(item.get("url"), str) and item["url"]:
                images.append(GeneratedImage(None, item["url"], revised))
        if not images:
            raise ProtocolError(
                f"LiteLLM at {self.base_url} answered the image request of '{model}' without image data or URL"
            )
        return images

    def save_image(self, image: GeneratedImage, destination: str) -> int:
        """Write one generated image to destination, atomically (fetching it if it is a URL)."""
        if image.data is not None:
            return write_atomically([image.data], destination)
        parts = urllib.parse.urlsplit(image.url)
        if parts.scheme not in ("http", "https"):
            raise ProtocolError(f"LiteLLM at {self.base_url} returned an image URL that is not http(s)")
        own = urllib.parse.urlsplit(self.base_url)
        same_host = (parts.scheme, parts.netloc) == (own.scheme, own.netloc)
        request = urllib.request.Request(image.url, method="GET")
        if same_host and self._key:  # never hand the key to a host the proxy points at
            request.add_header("Authorization", f"Bearer {self._key.reveal()}")
        try:
            response = send(request, self.timeout, f"{parts.scheme}://{parts.netloc}", LITELLM)
        except ErrorAnswer as answer:
            raise ProtocolError(
                f"the image at {parts.netloc} could not be downloaded (HTTP {answer.status})",
                hint="Its link may have expired; generate again.",
            ) from None
        with response:
            return write_atomically(stream(response, self.base_url, "the image", LITELLM), destination)

    # --- videos -------------------------------------------------------------------------------

    def create_video(
        self,
        model: str,
        prompt: str,
        *,
        seconds: str | int | None = None,
        size: str | None = None,
        input_reference: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> VideoJob:
        """POST /v1/videos (JSON, or multipart with an `input_reference` image file)."""
        fields: dict[str, Any] = {"model": model, "prompt": prompt}
        if seconds is not None:
            fields["seconds"] = str(seconds)
        if size:
            fields["size"] = size
        fields.update(extra or {})
        if input_reference:
            content = read_init_image(input_reference)
            raw, content_type = multipart(
                {k: str(v) for k, v in fields.items()},
                [("input_reference", os.path.basename(input_reference), content)],
            )
            answer = self._json(
                "POST", "/v1/videos", raw_body=raw, content_type=content_type, what="the video request", model=model
            )
        else:
            answer = self._json("POST", "/v1/videos", body=fields, what="the video request", model=model)
        return self._video(answer, model)

    def video_status(self, video_id: str, *, model: str = "") -> VideoJob:
        answer = self._json(
            "GET", f"/v1/videos/{urllib.parse.quote(video_id, safe='')}", what="the video status", model=model
        )
        return self._video(answer, model)

    def download_video(self, video_id: str, destination: str, *, variant: str = "video", model: str = "") -> int:
        """Stream the finished video's content to destination, atomically. Returns the byte count."""
        path = f"/v1/videos/{urllib.parse.quote(video_id, safe='')}/content"
        if variant != "video":
            path += "?" + urllib.parse.urlencode({"variant": variant})
        response = self._open("GET", path, what="the video download", model=model, accept="*/*")
        with response:
            return write_atomically(stream(response, self.base_url, "the video", LITELLM), destination)

    def delete_video(self, video_id: str) -> None:
        """Ask the provider to drop the video (OpenAI has no cancel; deleting is the closest)."""
        with self._open(
            "DELETE", f"/v1/videos/{urllib.parse.quote(video_id, safe='')}", what="the video deletion"
        ) as response:
            read_all(response, self.base_url, LITELLM)

    def _video(self, answer: dict[str, Any], model: str) -> VideoJob:
        video_id = answer.get("id")
        status = answer.get("status")
        if not isinstance(video_id, str) or not video_id or not isinstance(status, str):
            raise ProtocolError(
                f"LiteLLM at {self.base_url} sent a video object without id or status: {snippet(str(answer))}"
            )
        try:
            progress = float(answer.get("progress") or 0.0)
        except (TypeError, ValueError):
            progress = 0.0
        error = answer.get("error") if isinstance(answer.get("error"), dict) else None
        return VideoJob(
            video_id,
            status,
            progress,
            str(answer.get("model") or model),
            str(answer.get("seconds") or ""),
            str(answer.get("size") or ""),
            error,
        )

    # --- transcription ------------------------------------------------------------------------

    def transcribe(
        self,
        path: str,
        model: str,
        *,
        language: str | None = None,
        prompt: str | None = None,
        response_format: str = "verbose_json",
        timestamp_granularities: Iterable[str] = ("segment",),
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST /v1/audio/transcriptions with the sound file; the JSON answer (verbose_json: segments)."""
        try:
            size = os.path.getsize(path)
            if size > MAX_TRANSCRIPTION_BYTES:
                raise InvalidRequest(
                    f"the sound file {os.path.basename(path)} is {size / 1e6:.0f} MB; transcription takes at most"
                    f" {MAX_TRANSCRIPTION_BYTES // (1024 * 1024)} MB",
                    hint="Transcribe a shorter range, or mix the sound down to a compressed file (MP3, FLAC).",
                )
            with open(path, "rb") as handle:
                content = handle.read()
        except OSError as exc:
            raise InvalidRequest(
                f"cannot read the sound file {path}: {exc.strerror or exc}", hint="Check the sound strip's file path."
            ) from exc
        fields: list[tuple[str, str]] = [("model", model), ("response_format", response_format)]
        if language:
            fields.append(("language", language))
        if prompt:
            fields.append(("prompt", prompt))
        fields.extend(("timestamp_granularities[]", value) for value in timestamp_granularities)
        raw, content_type = multipart(fields, [("file", os.path.basename(path) or "audio.wav", content)])
        return self._json(
            "POST",
            "/v1/audio/transcriptions",
            raw_body=raw,
            content_type=content_type,
            what="the transcription request",
            model=model,
            timeout=timeout,
        )

    # --- plumbing -----------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        with self._open(method, path, **kwargs) as response:
            raw = read_all(response, self.base_url, LITELLM)
        return json_object(
            raw,
            self.base_url,
            path,
            LITELLM,
            hint="Is this address really a LiteLLM proxy (and not another program or a proxy page)?",
            quote=lambda text: self._scrub(snippet(text)),  # LiteLLM's longer snippet, without the key
        )

    def _open(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw_body: bytes | None = None,
        content_type: str = "application/json",
        what: str = "",
        model: str = "",
        timeout: float | None = None,
        accept: str = "application/json",
        auth: bool = True,
    ) -> http.client.HTTPResponse:
        request = json_request(self.base_url + path, method, body=body, raw_body=raw_body, content_type=content_type)
        request.add_header("Accept", accept)
        request.add_header("User-Agent", "Shotcaller")
        if auth and self._key:
            request.add_header("Authorization", f"Bearer {self._key.reveal()}")
        try:
            return send(request, timeout or self.timeout, self.base_url, LITELLM)
        except ErrorAnswer as answer:
            error = error_from_status(
                answer.status,
                answer.body,
                url=self.base_url,
                what=what or f"{method} {path}",
                model=model,
                has_key=self.has_key,
            )
            raise self._scrubbed(error) from None

    @contextlib.contextmanager
    def _streaming(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        what: str,
        model: str,
        timeout: float | None,
        cancel: threading.Event | None,
    ) -> Iterator[http.client.HTTPResponse]:
        """A response to read incrementally, on a connection that `cancel` shuts down at any moment
        (while waiting for the answer to begin too, which urllib cannot offer)."""
        parts = urllib.parse.urlsplit(self.base_url)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        try:
            connection = connection_class(parts.hostname or "", parts.port, timeout=timeout or self.timeout)
        except ValueError as exc:
            raise transport_error(exc, self.base_url, LITELLM) from exc
        headers = {"Accept": "text/event-stream", "User-Agent": "Shotcaller", "Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        with contextlib.closing(connection), _shut_on_cancel(connection, cancel):
            try:
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"{what} was cancelled")
                connection.request(method, parts.path + path, body=json.dumps(body).encode(), headers=headers)
                response = connection.getresponse()
            except READ_ERRORS as exc:
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"{what} was cancelled") from None
                raise transport_error(exc, self.base_url, LITELLM) from exc
            with response:
                if response.status >= 400:
                    error_body = read_all(response, self.base_url, LITELLM)
                    error = error_from_status(
                        response.status, error_body, url=self.base_url, what=what, model=model, has_key=self.has_key
                    )
                    raise self._scrubbed(error)
                yield response

    def _scrub(self, text: str) -> str:
        key = self._key.reveal()
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def _scrubbed(self, error: BackendError) -> BackendError:
        """The same error with the key removed from whatever the server echoed back."""
        error.message = self._scrub(error.message)
        error.hint = self._scrub(error.hint)
        error.args = (error.message,)
        return error


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


def _sse_events(response: http.client.HTTPResponse) -> Iterator[str]:
    """The `data` of each server-sent event (multi-line data joined with newlines)."""
    data: list[str] = []
    for raw in response:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # comment / keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


@contextlib.contextmanager
def _shut_on_cancel(connection: http.client.HTTPConnection, cancel: threading.Event | None) -> Iterator[None]:
    """Shut the connection's socket from a watcher thread when `cancel` is set: a blocked read returns."""
    if cancel is None:
        yield
        return
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            if cancel.wait(0.05):
                sock = connection.sock  # None until connected: keep looking until the stream ends
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    return
                finished.wait(0.02)

    watcher = threading.Thread(target=watch, name="litellm-stream-cancel", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
