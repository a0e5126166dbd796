"""LiteLLMClient against the REAL LiteLLM proxy (mock_response models, master key, loopback)."""

from __future__ import annotations

import logging
import threading
import time

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
from shotcaller.backends.litellm.client import LiteLLMClient, Secret
from shotcaller.backends.litellm.errors import (
    ContentRefused,
    ContextWindowExceeded,
    LiteLLMAuthError,
    UnknownModel,
)

HELLO = [{"role": "user", "content": "Say hello."}]


def test_liveliness_needs_no_key(stack):
    LiteLLMClient(stack.url).liveliness()
    assert LiteLLMClient(stack.url).is_alive()


def test_models_lists_every_configured_group(client):
    names = {entry.id for entry in client.models()}
    assert {
        "gpt-4o-mini",
        "shot-writer",
        "shot-writer-invalid",
        "prompt-writer",
        "rate-limited",
        "cloud-image",
        "cloud-video",
        "whisper",
    } <= names


def test_chat_answers_with_the_mock(client):
    answer = client.chat("gpt-4o-mini", HELLO)
    assert answer.content == "Hello from the LiteLLM mock (gpt-4o-mini)."
    assert answer.finish_reason == "stop"
    assert answer.model == "gpt-4o-mini"
    assert answer.usage["total_tokens"] > 0


def test_chat_stream_delivers_pieces_in_order(client):
    pieces: list[str] = []
    answer = client.chat_stream("gpt-4o-mini", HELLO, on_delta=pieces.append)
    assert len(pieces) > 3  # the mock streams a few characters per chunk
    assert "".join(pieces) == answer.content == "Hello from the LiteLLM mock (gpt-4o-mini)."
    assert answer.finish_reason == "stop"


def test_long_answer_streams_completely(client):
    answer = client.chat_stream("shot-writer", HELLO)
    assert answer.content.startswith("Here is the shot list") and answer.content.rstrip().endswith("```")


def test_no_key_is_unauthorized(stack):
    with pytest.raises(LiteLLMAuthError) as caught:
        LiteLLMClient(stack.url).chat("gpt-4o-mini", HELLO)
    assert isinstance(caught.value, CredentialsRefused)  # the proxy answered: its offers say why, no breaker
    assert "No api key passed in" in caught.value.message
    assert "preferences" in caught.value.hint


def test_no_key_on_stream_and_model_list(stack):
    with pytest.raises(LiteLLMAuthError):
        LiteLLMClient(stack.url).chat_stream("gpt-4o-mini", HELLO)
    with pytest.raises(LiteLLMAuthError):
        LiteLLMClient(stack.url).models()


def test_wrong_key_is_explained(stack):
    wrong = "sk-wrong-key-0123456789"
    with pytest.raises(LiteLLMAuthError) as caught:
        LiteLLMClient(stack.url, wrong).chat("gpt-4o-mini", HELLO)
    assert "not the proxy's master key" in caught.value.message
    assert wrong not in str(caught.value)


def test_unknown_model(client):
    with pytest.raises(UnknownModel) as caught:
        client.chat("no-such-model", HELLO)
    assert isinstance(caught.value, MissingResource)
    assert "has no model 'no-such-model'" in caught.value.message
    assert "/v1/models" in caught.value.hint
    with pytest.raises(UnknownModel):
        client.chat_stream("no-such-model", HELLO)


def test_rate_limit_is_busy(client):
    with pytest.raises(BackendBusy) as caught:
        client.chat("rate-limited", HELLO)
    assert "rate limiting" in caught.value.message
    assert "this is a mock rate limit error" in caught.value.message
    assert "LiteLLM: model group" not in caught.value.message  # the proxy's boilerplate is cut


def test_server_error_is_a_provider_failure(client):
    with pytest.raises(ProtocolError) as caught:
        client.chat("server-error", HELLO)
    assert "HTTP 500" in caught.value.message and "mock internal server error" in caught.value.message
    assert "log" in caught.value.hint


def test_context_window_exceeded_is_invalid_with_a_hint(client):
    with pytest.raises(ContextWindowExceeded) as caught:
        client.chat("context-too-long", HELLO)
    assert isinstance(caught.value, InvalidRequest) and not caught.value.failover
    assert "too long" in caught.value.message
    assert "Shorten it" in caught.value.hint and "larger context window" in caught.value.hint


def test_content_filter_is_refused(client):
    with pytest.raises(ContentRefused) as caught:
        client.chat("content-filter", HELLO)
    assert "content_filter_policy" in caught.value.message
    assert "Rephrase" in caught.value.hint


def test_stream_error_before_the_first_chunk(client):
    with pytest.raises(BackendBusy) as caught:  # 529 overloaded
        client.chat_stream("stream-error", HELLO)
    assert "HTTP 529" in caught.value.message


def test_timeout_is_reported(client):
    with pytest.raises(BackendUnreachable) as caught:
        client.chat("slow-mock", HELLO, timeout=0.5)
    assert "did not answer in time" in caught.value.message


def test_cancel_interrupts_a_waiting_stream(client):
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        client.chat_stream("slow-mock", HELLO, cancel=cancel)
    assert time.monotonic() - started < 1.5  # the mock answers only after 2 s


def test_unreachable(refused_url):
    with pytest.raises(BackendUnreachable) as caught:
        LiteLLMClient(refused_url, "sk-x").chat("gpt-4o-mini", HELLO)
    assert "connection refused" in caught.value.message and "litellm --config" in caught.value.hint


def test_key_never_shows(stack, caplog):
    key = stack.master_key
    client = LiteLLMClient(stack.url, key)
    assert key not in repr(client) and key not in str(vars(client))
    assert repr(Secret(key)) == "'***'" and str(Secret(key)) == "'***'"
    caplog.set_level(logging.DEBUG)
    client.chat("gpt-4o-mini", HELLO)
    client.chat_stream("gpt-4o-mini", HELLO)
    client.models()
    errors = []
    for model in ("no-such-model", "rate-limited", "context-too-long"):
        with pytest.raises(Exception) as caught:
            client.chat(model, HELLO)
        errors.append(caught.value)
    for error in errors:
        assert key not in str(error) and key not in repr(error) and key not in error.hint
    assert key not in caplog.text
