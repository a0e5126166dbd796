"""Transport to one LiteLLM proxy: the key, JSON requests, SSE streams that a cancel can cut.

Stdlib urllib only (it ships with Blender). Every failure leaves as a typed error of
backends/base.py (see errors.py), never as a raw urllib or socket exception.

The key is sent as `Authorization: Bearer <key>` and nowhere else: it is held in a `Secret` whose
repr is '***', is never logged, and any text a server sends back is scrubbed of it before it goes
into an error message. It is sent only to the proxy's own host, never to a URL the proxy returns.

ProxyTransport is the base of LiteLLMClient (client.py); the endpoint families build on it:
media.py (images, videos) and audio.py (transcription upload).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from ..answer import Answer
from ..base import BackendError, Cancelled
from ..http import ErrorAnswer, json_object, json_request, read_all, send
from ..policy import DEFAULT_POLICY, TransportPolicy
from .errors import LITELLM, error_from_status, snippet

DEFAULT_URL = "http://127.0.0.1:4000"
# Asks the proxy not to retry this request itself (its router's num_retries): the generation calls
# send it, so Shotcaller's own retries, which honour the provider's Retry-After, are the only ones.
# Checked against a real 1.106.2 proxy: honoured on the image, video and transcription routes (a
# `num_retries` or `max_retries` body field is not: images ignore it, transcriptions refuse it).
NO_PROXY_RETRIES = {"x-litellm-num-retries": "0"}


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


class ProxyTransport:
    """The plumbing every endpoint shares. Holds no connection state, so one instance serves many threads."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | Secret = "",
        *,
        timeout: float = 60.0,
        policy: TransportPolicy = DEFAULT_POLICY,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.policy = policy
        self._key = api_key if isinstance(api_key, Secret) else Secret(api_key)

    @property
    def has_key(self) -> bool:
        return bool(self._key)

    def _json(
        self,
        method: str,
        path: str,
        *,
        limit: int | None = None,
        headers_out: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """`headers_out`, when given, receives the answer's headers (lower-case names): the proxy's
        `x-litellm-response-cost` and retry counters live there."""
        with self._open(method, path, **kwargs) as response:
            if headers_out is not None:
                headers_out.update({name.lower(): value for name, value in response.headers.items()})
            raw = read_all(response, self.base_url, LITELLM, limit=limit, what=f"its answer to {method} {path}")
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
        deadline: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        request = json_request(self.base_url + path, method, body=body, raw_body=raw_body, content_type=content_type)
        request.add_header("Accept", accept)
        request.add_header("User-Agent", "Shotcaller")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        if auth and self._key:
            request.add_header("Authorization", f"Bearer {self._key.reveal()}")
        try:
            return send(request, timeout or self.timeout, self.base_url, LITELLM, policy=self.policy, deadline=deadline)
        except ErrorAnswer as answer:
            error = error_from_status(
                answer.status,
                answer.body,
                url=self.base_url,
                what=what or f"{method} {path}",
                model=model,
                has_key=self.has_key,
                headers=dict(answer.headers.items()),
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
    ) -> Iterator[Answer]:
        """A response to read incrementally, on a connection that `cancel` shuts down at any moment
        (while waiting for the answer to begin too). `timeout` bounds each silence; the whole
        stream may take as long as a download."""
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{what} was cancelled")
        request = json_request(self.base_url + path, method, body=body)
        request.add_header("Accept", "text/event-stream")
        request.add_header("User-Agent", "Shotcaller")
        if self._key:
            request.add_header("Authorization", f"Bearer {self._key.reveal()}")
        try:
            response = send(
                request,
                timeout or self.timeout,
                self.base_url,
                LITELLM,
                policy=self.policy,
                deadline=self.policy.download_seconds,
                cancel=cancel,
            )
        except ErrorAnswer as answer:
            error = error_from_status(
                answer.status, answer.body, url=self.base_url, what=what, model=model, has_key=self.has_key,
                headers=dict(answer.headers.items()),
            )  # fmt: skip
            raise self._scrubbed(error) from None
        with response:
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


def sse_events(response: Answer) -> Iterator[str]:
    """The `data` of each server-sent event (multi-line data joined with newlines); each line
    within the policy's answer limit."""
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
