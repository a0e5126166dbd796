"""Fixtures: the real LiteLLM proxy (shared with the other LiteLLM test modules in this process)."""

from __future__ import annotations

import pytest

from devservers.litellm.testing import ProxyStack, StackUnavailable, shared_stack
from shotcaller.backends.litellm.client import LiteLLMClient


@pytest.fixture(scope="session")
def stack() -> ProxyStack:
    try:
        return shared_stack()
    except StackUnavailable as exc:
        pytest.skip(f"no LiteLLM proxy: {exc}")


@pytest.fixture
def client(stack: ProxyStack) -> LiteLLMClient:
    return LiteLLMClient(stack.url, stack.master_key, timeout=30)
