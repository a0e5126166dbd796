"""One reference media endpoint and one real LiteLLM proxy per test process, shared by test modules.

    stack = shared_stack()        # started on first use (~10 s), stopped when the process exits
    stack.url, stack.master_key, stack.media (the OpenAIMediaServer), stack.proxy (ProxyHandle)

Raises `StackUnavailable` when the litellm venv cannot be created; tests turn that into a skip.
A proxy that fails to start for any other reason is an error, not a skip.
"""

from __future__ import annotations

import atexit
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..openai_media import OpenAIMediaServer
from .config import build_config
from .launch import ProxyHandle, litellm_python, start_proxy

MEDIA_KEY = "sk-reference-media-7f3a"


class StackUnavailable(RuntimeError):
    """The litellm venv is missing and cannot be created on this machine."""


@dataclass
class ProxyStack:
    proxy: ProxyHandle
    media: OpenAIMediaServer
    directory: Path

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def master_key(self) -> str:
        return self.proxy.master_key

    def stop(self) -> None:
        self.proxy.stop()
        self.media.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


_lock = threading.Lock()
_stack: ProxyStack | None = None


def shared_stack() -> ProxyStack:
    global _stack
    with _lock:
        if _stack is not None and _stack.proxy.alive():
            return _stack
        try:
            python = litellm_python(ensure=True)
        except RuntimeError as exc:
            raise StackUnavailable(str(exc)) from exc
        directory = Path(tempfile.mkdtemp(prefix="shotcaller-litellm-"))
        media = OpenAIMediaServer(api_key=MEDIA_KEY, output_dir=str(directory / "media"), video_job_seconds=0.6)
        media.start()
        master_key = f"sk-test-{secrets.token_hex(12)}"
        config = build_config(master_key=master_key, media_url=media.url, media_api_key=MEDIA_KEY, slow_mock_delay=2.0)
        try:
            proxy = start_proxy(directory, config, master_key, python=python)
        except BaseException:
            media.stop()
            raise
        _stack = ProxyStack(proxy, media, directory)
        atexit.register(_stack.stop)
        return _stack
