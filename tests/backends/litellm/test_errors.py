"""Error mapping, from the exact bodies recorded from a real proxy, and shapes only a stub can send."""

from __future__ import annotations

import json

import pytest

from shotcaller.backends.base import (
    BackendBusy,
    BackendUnreachable,
    Cancelled,
    CredentialsRefused,
    InvalidRequest,
    MissingResource,
    ProtocolError,
)
from shotcaller.backends.litellm.client import LiteLLMClient
from shotcaller.backends.litellm.errors import (
    ContentRefused,
    ContextWindowExceeded,
    LiteLLMAuthError,
    ModelNotAllowed,
    ProxyLimited,
    UnknownModel,
    error_from_status,
    readable,
)

URL = "http://127.0.0.1:4000"
HELLO = [{"role": "user", "content": "hi"}]


def envelope(message: str, type_: str | None, code: str, param: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}}).encode()


# Bodies copied from protocols/litellm-recorded.md.
RECORDED = {
    "unknown_model": (
        400,
        envelope(
            "/chat/completions: Invalid model name passed in model=no-such-model. Call "
            "`/v1/models` to view available models for your key.",
            "invalid_request_error",
            "400",
        ),
    ),
    "rate_limited": (
        429,
        envelope(
            "litellm.RateLimitError: this is a mock rate limit error\n\nLiteLLM: model group "
            "'rate-limited' failed with the error above. No fallback was attempted.",
            "throttling_error",
            "429",
        ),
    ),
    "server_error": (
        500,
        envelope(
            "litellm.InternalServerError: this is a mock internal server error\n\nLiteLLM: "
            "model group 'server-error' failed with the error above. No fallback was "
            "attempted.",
            "internal_server_error",
            "500",
        ),
    ),
    "context_window": (
        400,
        envelope(
            "litellm.ContextWindowExceededError: litellm.BadRequestError: "
            "this is a mock context window exceeded error\n"
            "model=context-too-long. context_window_fallbacks=None. fallbacks=None.\n\nSet 'context_window_fallback' - "
            "https://docs.litellm.ai/docs/routing#fallbacks\n\nLiteLLM: model group 'context-too-long' failed with the "
            "error above. No fallback was attempted.",
            "invalid_request_error",
            "400",
        ),
    ),
    "content_filter": (
        400,
        envelope(
            "litellm.BadRequestError: OpenAIException - litellm.MockException: Exception: "
            "content_filter_policy\n\nLiteLLM: model group 'content-filter' failed with the "
            "error above. No fallback was attempted.",
            "invalid_request_error",
            "400",
        ),
    ),
    "stream_error": (
        529,
        envelope(
            "litellm.APIError: APIError: OpenAIException - litellm.MockException: This is a "
            "mock error raised mid-stream",
            None,
            "529",
        ),
    ),
    "no_key": (401, envelope("Authentication Error, No api key passed in.", "auth_error", "401", "None")),
    "bare_key": (
        401,
        envelope(
            "Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix.",
            "auth_error",
            "401",
            "None",
        ),
    ),
    "wrong_key": (400, envelope("No connected db.", "no_db_connection", "400")),
    "missing_messages": (
        400,
        envelope(
            "/chat/completions: Missing required parameter: 'messages'.", "invalid_request_error", "400", "messages"
        ),
    ),
    "no_prisma": (500, b'"Internal Server Error"'),
    "no_prisma_text": (500, b"Internal Server Error"),
}


@pytest.mark.parametrize(
    ("case", "expected", "in_message"),
    [
        ("unknown_model", UnknownModel, "has no model 'no-such-model'"),
        ("rate_limited", BackendBusy, "this is a mock rate limit error"),
        ("server_error", ProtocolError, "this is a mock internal server error"),
        ("context_window", ContextWindowExceeded, "this is a mock context window exceeded error"),
        ("content_filter", ContentRefused, "content_filter_policy"),
        ("stream_error", BackendBusy, "This is a mock error raised mid-stream"),
        ("no_key", LiteLLMAuthError, "No api key passed in"),
        ("bare_key", LiteLLMAuthError, "Malformed API Key"),
        ("wrong_key", LiteLLMAuthError, "not the proxy's master key"),
        ("missing_messages", InvalidRequest, "Missing required parameter: 'messages'"),
        ("no_prisma", ProtocolError, "internal error"),
        ("no_prisma_text", ProtocolError, "internal error"),
    ],
)
def test_recorded_errors_map_to_typed_errors(case, expected, in_message):
    status, body = RECORDED[case]
    error = error_from_status(status, body, url=URL, what="the chat request", model="m")
    assert type(error) is expected
    assert in_message in error.message
    assert error.hint, "every error says what to do"
    assert "LiteLLM: model group" not in error.message


def test_typed_error_families():
    # A refused key is the proxy's answer, not a dead proxy: the breaker stays closed (backends/base.py).
    assert issubclass(LiteLLMAuthError, CredentialsRefused) and not issubclass(LiteLLMAuthError, BackendUnreachable)
    assert issubclass(ModelNotAllowed, MissingResource)
    assert issubclass(UnknownModel, MissingResource)
    assert issubclass(ContextWindowExceeded, InvalidRequest) and not ContextWindowExceeded.failover
    assert issubclass(ContentRefused, InvalidRequest) and not ContentRefused.failover


def test_missing_prisma_hint():
    status, body = RECORDED["no_prisma"]
    error = error_from_status(status, body, url=URL, what="the chat request")
    assert "prisma" in error.hint


def test_no_key_hint_depends_on_whether_a_key_is_set():
    status, body = RECORDED["no_key"]
    assert "Set the LiteLLM key" in error_from_status(status, body, url=URL, what="x", has_key=False).hint
    assert "Check the LiteLLM key" in error_from_status(status, body, url=URL, what="x", has_key=True).hint


def test_readable_digs_out_the_provider_message():
    wrapped = (
        'litellm.BadRequestError: OpenAIException - {"error": {"message": "Invalid value: \'5\'. Supported '
        'values are: \'4\', \'8\', \'12\'.", "type": "invalid_request_error", "param": "seconds", "code": '
        "\"invalid_value\"}}\n\nLiteLLM: model group 'cloud-video' failed with the error above."
    )
    assert readable(wrapped) == "Invalid value: '5'. Supported values are: '4', '8', '12'."
    assert readable("Authentication Error, No api key passed in.") == "Authentication Error, No api key passed in."


def test_fastapi_detail_shape_and_other_statuses():
    error = error_from_status(503, json.dumps({"detail": "Service Unhealthy (db)"}).encode(), url=URL, what="x")
    assert isinstance(error, BackendBusy) and "Service Unhealthy" in error.message
    forbidden = error_from_status(
        403,
        envelope("key not allowed to access model", "auth_error", "403"),
        url=URL,
        what="the chat request",
        model="gpt-4o",
    )
    assert isinstance(forbidden, ModelNotAllowed) and "model 'gpt-4o'" in forbidden.message
    timeout = error_from_status(
        408, envelope("litellm.Timeout: request timed out", "timeout", "408"), url=URL, what="x"
    )
    assert isinstance(timeout, BackendBusy)
    gateway = error_from_status(502, b"<html>Bad Gateway</html>", url=URL, what="x")
    assert isinstance(gateway, BackendUnreachable)
    large = error_from_status(413, envelope("Request Entity Too Large", None, "413"), url=URL, what="the upload")
    assert isinstance(large, InvalidRequest)


# --- shapes a real proxy does not produce on demand, from a stub -----------------------------


def sse(*events: str) -> list[bytes]:
    return [f"data: {event}\n\n".encode() for event in events]


CHUNK = json.dumps(
    {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}
)


def test_error_event_after_the_first_chunk(stub):
    error_event = json.dumps(
        {
            "error": {
                "message": "litellm.APIError: APIError: OpenAIException - overloaded",
                "type": None,
                "param": None,
                "code": "529",
            }
        }
    )
    server = stub(lambda *_: (200, {"Content-Type": "text/event-stream"}, sse(CHUNK, error_event)))
    pieces: list[str] = []
    with pytest.raises(BackendBusy):
        LiteLLMClient(server.url, "sk-k").chat_stream("m", HELLO, on_delta=pieces.append)
    assert pieces == ["Hel"]


def test_stream_cut_before_the_end(stub):
    server = stub(lambda *_: (200, {"Content-Type": "text/event-stream"}, sse(CHUNK)))
    with pytest.raises(ProtocolError) as caught:
        LiteLLMClient(server.url, "sk-k").chat_stream("m", HELLO)
    assert "before it was complete" in caught.value.message


def test_stream_keepalive_comments_and_multiline_data(stub):
    done = json.dumps({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks = [b": keep-alive\n\n", f"data: {CHUNK}\r\n\r\n".encode(), *sse(done, "[DONE]")]
    server = stub(lambda *_: (200, {"Content-Type": "text/event-stream"}, chunks))
    answer = LiteLLMClient(server.url, "sk-k").chat_stream("m", HELLO)
    assert answer.content == "Hel" and answer.finish_reason == "stop"


def test_garbage_answers_are_protocol_errors(stub):
    server = stub(lambda *_: (200, {"Content-Type": "text/html"}, b"<html>not a proxy</html>"))
    with pytest.raises(ProtocolError) as caught:
        LiteLLMClient(server.url).models()
    assert "not JSON" in caught.value.message
    server = stub(lambda *_: (200, {"Content-Type": "application/json"}, b'{"choices": []}'))
    with pytest.raises(ProtocolError):
        LiteLLMClient(server.url).chat("m", HELLO)


def test_echoed_key_is_scrubbed_from_errors(stub):
    key = "sk-super-secret-key-42"

    def echo(method, path, headers, body):
        received = headers.get("authorization", "")
        return 401, {"Content-Type": "application/json"}, envelope(f"Invalid key: {received}", "auth_error", "401")

    server = stub(echo)
    client = LiteLLMClient(server.url, key)
    for call in (lambda: client.chat("m", HELLO), lambda: client.chat_stream("m", HELLO), client.models):
        with pytest.raises(LiteLLMAuthError) as caught:
            call()
        assert key not in str(caught.value) and key not in repr(caught.value.args)
        assert "Bearer ***" in caught.value.message  # the proxy did get it, as a Bearer token
    assert all(headers["authorization"] == f"Bearer {key}" for _, _, headers, _ in server.requests)


def test_key_is_not_sent_to_foreign_image_hosts(stub, tmp_path):
    foreign = stub(lambda *_: (200, {"Content-Type": "image/png"}, b"\x89PNG fake"))
    proxy = stub(
        lambda *_: (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"data": [{"url": foreign.url + "/img.png"}]}).encode(),
        )
    )
    client = LiteLLMClient(proxy.url, "sk-secret-1")
    (image,) = client.generate_images("m", "a fox")
    client.save_image(image, str(tmp_path / "out.png"))
    assert (tmp_path / "out.png").read_bytes() == b"\x89PNG fake"
    assert "authorization" not in foreign.requests[0][2]
    assert proxy.requests[0][2]["authorization"] == "Bearer sk-secret-1"


def test_cancel_before_sending(stub):
    import threading

    server = stub(lambda *_: (200, {"Content-Type": "text/event-stream"}, sse("[DONE]")))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        LiteLLMClient(server.url).chat_stream("m", HELLO, cancel=cancel)
    assert server.requests == []


def test_unsupported_parameter_hint():
    body = envelope(
        "litellm.UnsupportedParamsError: Setting `response_format` is not supported by openai, gpt-image-1. To drop "
        "it from the call, set `litellm.drop_params = True`.\n\nLiteLLM: model group 'cloud-image' failed with the "
        "error above. No fallback was attempted.",
        "invalid_request_error",
        "400",
    )
    error = error_from_status(400, body, url=URL, what="the image request", model="cloud-image")
    assert type(error) is InvalidRequest and "`response_format` is not supported" in error.message
    assert "drop_params" in error.hint


def test_rate_limit_event_mid_stream_without_numeric_code(stub):
    event = json.dumps({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})
    server = stub(lambda *_: (200, {"Content-Type": "text/event-stream"}, sse(CHUNK, event)))
    with pytest.raises(BackendBusy):
        LiteLLMClient(server.url).chat_stream("m", HELLO)


# Bodies recorded from the real 1.106.2 proxy (tests/jobs/test_retries_proxy.py makes it say them).
PROVIDER_429 = envelope(
    "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for images per minute. Please"
    " try again in 2s.\n\nLiteLLM: model group 'cloud-image' failed with the error above. No fallback was attempted.",
    "throttling_error",
    "429",
)
COOLDOWN = envelope(
    "No deployments available for selected model, Try again in 2 seconds. All deployments for selected model are"
    " in cooldown. Passed model=twin-image. pre-call-checks=True,"
    " cooldown_list=['93b7ced9acb4ccaadaa0caa7acd861e2ff449b917c2d61645721a9cebef12d87']",
    "all_deployments_in_cooldown",
    "429",
)
RPM_LIMIT = envelope(
    "litellm.RateLimitError: No deployments available for selected model. Passed model=limited-image."
    " Deployments={'1139499ead4195a67d0a632806f7056a04992bd5641b8e8b9d31acc036baa959': {'current_tpm': 2,"
    " 'tpm_limit': inf, 'current_rpm': 1, 'rpm_limit': 1}}\n\nLiteLLM: model group 'limited-image' failed with"
    " the error above. No fallback was attempted.",
    "throttling_error",
    "429",
)


def test_a_provider_429_carries_the_wait_it_states_or_its_header():
    error = error_from_status(429, PROVIDER_429, url=URL, what="the image request", model="cloud-image")
    assert type(error) is BackendBusy and error.retry_after == 2
    assert error.message.endswith("(HTTP 429): Rate limit reached for images per minute. Please try again in 2s.")
    assert "tried again" not in error.hint
    header = error_from_status(429, PROVIDER_429, url=URL, what="x", headers={"Retry-After": "7"})
    assert header.retry_after == 7  # the header wins over the words


@pytest.mark.parametrize(
    ("body", "sentence", "wait"),
    [
        (COOLDOWN, f"LiteLLM at {URL} is resting model 'twin-image' after errors from its provider (the proxy's"
         " cooldown) for 2 s", 2),
        (RPM_LIMIT, f"LiteLLM at {URL} has reached its own request limit for model 'limited-image' (the rpm or tpm"
         " in its config)", 60),
    ],
)  # fmt: skip
def test_the_proxys_own_limits_are_the_proxys_in_one_sentence(body, sentence, wait):
    error = error_from_status(429, body, url=URL, what="the image request", model="x")
    assert isinstance(error, ProxyLimited) and isinstance(error, BackendBusy)
    assert error.message == sentence and error.retry_after == wait
    assert "cooldown_list" not in error.message and "current_rpm" not in error.message and "9" not in error.hint
