"""Start a reference server (devservers/) as a subprocess of another venv's python.

Blender tests run in bpy venvs, which do not have the servers' dependencies
(aiohttp, PyAV, Pillow), so they start the servers with the dev venv's python.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LITELLM_TEST_KEY = f"sk-test-{secrets.token_hex(12)}"  # the master key of the test proxy, new every run
_READY = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def _server_environment() -> dict[str, str]:
    """The servers' environment: the real venv folder even where a test moved HOME (Blender tests
    do, to keep Blender's user folders private), or the LiteLLM launcher would build a fresh venv."""
    env = dict(os.environ)
    real_home = env.get("SHOTCALLER_REAL_HOME") or env.get("HOME", "")
    env.setdefault("SHOTCALLER_VENVS", os.path.join(real_home, ".cache", "shotcaller", "venvs"))
    return env


class ServerProcess:
    """A running reference server: its URL, and a way to kill it as a crash would."""

    def __init__(self, url: str, process: subprocess.Popen[str]) -> None:
        self.url = url
        self.process = process

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@contextlib.contextmanager
def reference_server(python: str, module: str, *args: str, timeout: float = 60.0) -> Iterator[str]:
    """`python -m devservers.<module> --port 0 ARGS`; yields its base URL; stops it afterwards."""
    with reference_server_process(python, module, *args, timeout=timeout) as server:
        yield server.url


@contextlib.contextmanager
def reference_server_process(python: str, module: str, *args: str, timeout: float = 60.0) -> Iterator[ServerProcess]:
    process = subprocess.Popen(
        [python, "-m", f"devservers.{module}", "--port", "0", *args],
        cwd=REPO_ROOT,
        env=_server_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    url, seen = None, []
    deadline = time.monotonic() + timeout
    while url is None and time.monotonic() < deadline:
        line = process.stdout.readline() if process.stdout else ""
        if not line and process.poll() is not None:
            break
        seen.append(line)
        match = _READY.search(line)
        url = match.group(1) if match else None
    try:
        if url is None:
            raise RuntimeError(f"devservers.{module} did not start:\n{''.join(seen)}")
        yield ServerProcess(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
