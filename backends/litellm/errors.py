"""Turning what a LiteLLM proxy says went wrong into the typed errors of backends/base.py.

The proxy's error envelope (recorded from a real 1.106.2 proxy, protocols/litellm-recorded.md) is
`{"error": {"message", "type", "param", "code": "<HTTP status as a string>"}}`; some routes answer
FastAPI's `{"detail": ...}` and an auth failure without `prisma` installed is a bare text 500.
Provider errors arrive wrapped: `litellm.RateLimitError: RateLimitError: OpenAIException - {json}`
and a trailing "LiteLLM: model group 'x' failed ..." paragraph; the readable part is dug out here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..base import (
    BackendBusy,
    BackendError,
    BackendUnreachable,
    CredentialsRefused,
    InvalidRequest,
    MissingResource,
    ProtocolError,
)
from ..http import Service
from ..http import snippet as _snippet
from ..retry_after import retry_after, text_seconds

START_HINT = (
    "Start it with `litellm --config config.yaml --host 127.0.0.1 --port 4000`,"
    " or fix the LiteLLM address in Shotcaller's preferences."
)
LITELLM = Service(
    "LiteLLM",
    START_HINT,
    example_url="http://127.0.0.1:4000",
    program="the proxy",
    settings_name="LiteLLM",
    ssl_hint="Check whether the proxy uses http:// or https://.",
    not_http_hint="Is this address really a LiteLLM proxy?",
    refused_question="Is the LiteLLM proxy running at {url}?",
)
KEY_HINT = "Set the LiteLLM key (the proxy's master key, or a virtual key) in Shotcaller's preferences."


class LiteLLMAuthError(CredentialsRefused):
    """The proxy refused the key (missing, malformed or unknown). The proxy is there (not a dead server
    for the circuit breaker), and every model on it fails the same way until the key is fixed."""

    kind = "unauthorized"


class ModelNotAllowed(MissingResource):
    """The key is good but may not use this model: another model, or another backend, may still do."""

    kind = "model_not_allowed"


class UnknownModel(MissingResource):
    """The proxy has no model group of that name (for this key)."""

    kind = "unknown_model"


class ProxyLimited(BackendBusy):
    """The proxy itself holds the request back (its rpm/tpm limit, or a cooldown after provider
    errors): no provider was called, and the proxy says when it takes requests again."""

    kind = "proxy_limited"


class ContextWindowExceeded(InvalidRequest):
    """The text is longer than the model's context window."""

    kind = "context_window_exceeded"


class ContentRefused(InvalidRequest):
    """The provider's safety system refused the prompt."""

    kind = "content_refused"


_GROUP_TAIL = re.compile(r"\s*LiteLLM: model group '[^']*' failed with the error above\..*$", re.DOTALL)
_PREFIX = re.compile(
    r"^(?:(?:litellm\.)?[A-Za-z]*(?:Error|Exception)(?::|\s+-)\s*|(?:OpenAI|Azure|Anthropic)Exception\s*-\s*)+"
)
_MODEL_NAME = re.compile(r"Invalid model name passed in model=([^\s.]*)")
_PASSED_MODEL = re.compile(r"Passed model=([^\s.,]+)")
PROXY_LIMIT_SECONDS = 60.0  # the proxy counts rpm and tpm per minute
WAIT_HINT = "Wait for the provider's limit to reset, then try again; or choose another model or backend."


def snippet(body: bytes | str, limit: int = 300) -> str:
    """Longer than the other services' snippets: provider errors arrive wrapped in LiteLLM's words."""
    return _snippet(body, limit)


def parse_envelope(body: bytes | str) -> dict[str, Any] | None:
    """{"message", "type", "param", "code"} from an error body, or None if it is not one."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = payload["error"]
        return {
            "message": str(error.get("message") or ""),
            "type": error.get("type"),
            "param": error.get("param"),
            "code": None if error.get("code") is None else str(error.get("code")),
        }
    if isinstance(payload, dict) and "detail" in payload:  # FastAPI HTTPException routes
        detail = payload["detail"]
        text = detail if isinstance(detail, str) else json.dumps(detail)
        return {"message": text, "type": None, "param": None, "code": None}
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return {"message": payload["error"], "type": None, "param": None, "code": None}
    return None


def readable(message: str) -> str:
    """The provider's own sentence out of LiteLLM's wrapping, on one line."""
    text = _GROUP_TAIL.sub("", message or "").strip()
    brace = text.find('{"error"')
    if brace >= 0:
        try:
            inner = json.loads(text[brace:])
        except ValueError:
            inner = None
        if isinstance(inner, dict) and isinstance(inner.get("error"), dict) and inner["error"].get("message"):
            text = str(inner["error"]["message"])
    first = text.splitlines()[0] if text else ""
    first = _PREFIX.sub("", first).strip()
    return first or snippet(message)


def error_from_status(
    status: int,
    body: bytes,
    *,
    url: str,
    what: str,
    model: str = "",
    has_key: bool = True,
    headers: Mapping[str, str] | None = None,
) -> BackendError:
    """The typed error for an HTTP error answer of the proxy (or an error event in a stream).
    A busy answer carries the wait it asked for (`retry_after`), from `headers` or its words."""
    envelope = parse_envelope(body)
    if envelope is None:
        error = _non_json_error(status, body, url, what)
    else:
        error = _envelope_error(status, envelope, url=url, what=what, model=model, has_key=has_key)
    if isinstance(error, BackendBusy) and error.retry_after is None:
        error.retry_after = retry_after(headers, envelope["message"] if envelope else "")
    return error


def _envelope_error(
    status: int, envelope: dict[str, Any], *, url: str, what: str, model: str, has_key: bool
) -> BackendError:
    raw = envelope["message"]
    message = readable(raw)
    lowered = f"{raw} {envelope.get('type') or ''} {envelope.get('code') or ''}".lower()
    where = f"LiteLLM at {url}"
    for_model = f" for model '{model}'" if model else ""
    if status == 403 or "not allowed to access model" in lowered:
        return ModelNotAllowed(
            f"{where} does not allow this key {what}{for_model} (HTTP {status}): {message}",
            hint="Ask whoever runs the proxy to allow this model for your key, or choose another model.",
        )
    if status == 401 or envelope.get("type") == "auth_error":
        return LiteLLMAuthError(
            f"{where} refused the key (HTTP {status}): {message}",
            hint=KEY_HINT if not has_key else "Check the LiteLLM key in Shotcaller's preferences.",
        )
    if envelope.get("type") == "no_db_connection" or "no connected db" in lowered:
        return LiteLLMAuthError(
            f"{where} does not know this key: it is not the proxy's master key, and without a database"
            " the proxy has no virtual keys",
            hint="Use the proxy's master key in Shotcaller's preferences, or connect a database to the proxy.",
        )
    if "invalid model name passed" in lowered or (status == 404 and "model" in lowered and "not found" in lowered):
        match = _MODEL_NAME.search(raw)
        name = match.group(1) if match else model
        return UnknownModel(
            f"{where} has no model '{name}'",
            hint="Choose a model the proxy lists (GET /v1/models), or add it to the proxy's config.yaml.",
        )
    if "contextwindowexceeded" in lowered or "context length" in lowered or "context window" in lowered:
        return ContextWindowExceeded(
            f"the text is too long for model '{model or '?'}' on {where}: {message}",
            hint="Shorten it (split a long script into scenes and convert them one by one), or choose a model"
            " with a larger context window.",
        )
    if any(
        marker in lowered
        for marker in (
            "contentpolicyviolation",
            "content_policy",
            "content_filter",
            "safety system",
            "content management policy",
        )
    ):
        return ContentRefused(
            f"the provider behind {where} refused the prompt{for_model}: {message}",
            hint="Rephrase the prompt; the provider's safety filter rejected it.",
        )
    limited = _proxy_limit(raw, envelope.get("type"), where, model)
    if limited is not None:
        return limited
    if status in (429, 503, 529):
        kind = "is rate limiting" if status == 429 else "is overloaded"
        return BackendBusy(f"the provider behind {where} {kind}{for_model} (HTTP {status}): {message}", hint=WAIT_HINT)
    if status in (408, 504) or envelope.get("type") == "timeout":
        return BackendBusy(
            f"the provider behind {where} did not answer in time{for_model} (HTTP {status}): {message}",
            hint="Try again; for long jobs raise the proxy's request_timeout.",
        )
    if status == 404:
        return MissingResource(
            f"{where} has no {what} (HTTP 404): {message}",
            hint="This LiteLLM version may not offer that endpoint; update the proxy.",
        )
    if status == 413:
        return InvalidRequest(
            f"{what} is too large for {where} (HTTP 413): {message}",
            hint="Send a smaller file (a shorter sound range, a smaller image).",
        )
    if "unsupportedparams" in lowered or "is not supported by" in lowered:
        return InvalidRequest(
            f"{where} cannot pass a setting {what}{for_model}: {message}",
            hint="Remove that setting from the model's extra settings in Shotcaller's preferences, or set"
            " `litellm_settings: {drop_params: true}` in the proxy's config.",
        )
    if 400 <= status < 500:
        return InvalidRequest(
            f"{where} refused {what}{for_model} (HTTP {status}): {message}",
            hint="The proxy or its provider does not accept these settings; see the message.",
        )
    return ProtocolError(
        f"the provider behind {where} failed{for_model} (HTTP {status}): {message}",
        hint="See the LiteLLM proxy's log for the reason; another backend may be tried.",
    )


def _proxy_limit(raw: str, error_type: Any, where: str, model: str) -> ProxyLimited | None:
    """The proxy's own limit or cooldown, in one sentence, without its deployment hashes and counters."""
    lowered = raw.lower()
    if "no deployments available" not in lowered and error_type != "all_deployments_in_cooldown":
        return None
    match = _PASSED_MODEL.search(raw)
    name = match.group(1).strip("'\"") if match else model
    named = f" model '{name}'" if name else " this model"
    wait = text_seconds(raw)
    if error_type == "all_deployments_in_cooldown" or "cooldown" in lowered:
        when = f" for {wait:g} s" if wait is not None else ""
        error = ProxyLimited(
            f"{where} is resting{named} after errors from its provider (the proxy's cooldown){when}",
            hint="The proxy takes the model again when its cooldown ends; its cooldown settings are in its config.",
        )
    else:
        error = ProxyLimited(
            f"{where} has reached its own request limit for{named} (the rpm or tpm in its config)",
            hint="The proxy counts requests per minute; the model's rpm/tpm in its config say how many it lets pass.",
        )
        wait = PROXY_LIMIT_SECONDS if wait is None else wait
    error.retry_after = wait
    return error


def _non_json_error(status: int, body: bytes, url: str, what: str) -> BackendError:
    text = snippet(body) or "(empty answer)"
    if status == 500 and "internal server error" in text.lower():
        return ProtocolError(
            f"LiteLLM at {url} failed with an internal error for {what} (HTTP 500, not JSON)",
            hint="If the proxy has a master key, it may be missing the `prisma` package (it then answers 500"
            " instead of 401 to a missing or malformed key): `pip install prisma` where LiteLLM runs, and check"
            " the key in Shotcaller's preferences.",
        )
    if status in (429, 503):
        return BackendBusy(
            f"LiteLLM at {url} is busy (HTTP {status}) for {what}: {text}", hint="Wait a little, then try again."
        )
    if status in (502, 504):
        return BackendUnreachable(
            f"a gateway in front of LiteLLM at {url} failed (HTTP {status}) for {what}",
            hint=f"Is the proxy running? {START_HINT}",
        )
    return ProtocolError(
        f"LiteLLM at {url} answered {what} with HTTP {status}: {text}",
        hint="Is this address really a LiteLLM proxy (and not another program or a proxy page)?",
    )
