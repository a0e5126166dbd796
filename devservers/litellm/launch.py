"""Start the REAL LiteLLM proxy (from the "litellm" venv) on loopback, for tests and development.

    from devservers.litellm.launch import start_proxy, litellm_python
    from devservers.litellm.config import build_config

    proxy = start_proxy(tmp_path, build_config(master_key="sk-test-...", media_url=media.url),
                        master_key="sk-test-...")
    proxy.url           # "http://127.0.0.1:PORT"
    proxy.stop()        # SIGTERM, then kill; idempotent

The venv comes from tools/requirements-litellm.txt (`python3 tools/venvs.py ensure litellm`).
The proxy is started with `--host 127.0.0.1`, `LITELLM_LOCAL_MODEL_COST_MAP=True` (no fetch of
the cost map from the internet), no database, and the environment's proxy, database and provider
variables removed. Telemetry is a no-op in this LiteLLM version (`--telemetry` is "deprecated
no-op"); nothing else phones home with a local cost map.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

from ..common.launch import REPO_ROOT, ProcessHandle, free_port
from .config import write_config

# Variables that would make the proxy reach out (a database, a cloud provider, an HTTP proxy).
_SCRUBBED_ENV = (
    "DATABASE_URL",
    "DIRECT_URL",
    "REDIS_HOST",
    "REDIS_URL",
    "REDIS_PASSWORD",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "ANTHROPIC_API_KEY",
    "AZURE_API_KEY",
    "LITELLM_MASTER_KEY",
    "LITELLM_LICENSE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "PORT",
    "HOST",
    "NUM_WORKERS",
)


class ProxyStartError(RuntimeError):
    """The proxy exited or did not answer in time; the message ends with its log's tail."""


def _venvs_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("shotcaller_tools_venvs", REPO_ROOT / "tools" / "venvs.py")
    assert spec is not None and spec.loader is not None
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there while the class is made
    spec.loader.exec_module(module)
    return module


def litellm_python(*, ensure: bool = True) -> str:
    """The litellm venv's python; creates or updates the venv first when `ensure` (PyPI, ~75 s once).

    Raises RuntimeError if the venv cannot be created.
    """
    venvs = _venvs_module()
    if ensure and venvs.venv_state("litellm") != "ok":
        try:
            created = venvs.ensure(["litellm"], quiet=True)
        except SystemExit as exc:  # venvs.py exits when it finds no CPython 3.11
            raise RuntimeError(f"the litellm venv could not be created: {exc}") from None
        if not created:
            raise RuntimeError(
                "the litellm venv could not be created (`python3 tools/venvs.py ensure litellm`;"
                f" log: {venvs.venvs_root() / 'litellm.log'})"
            )
    python = venvs.venv_python("litellm")
    if not python.exists():
        raise RuntimeError(f"no litellm venv at {python}; run `python3 tools/venvs.py ensure litellm`")
    return str(python)


class ProxyHandle(ProcessHandle):
    """A running proxy process. The master key is kept, but never shown in its repr."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        url: str,
        master_key: str,
        directory: Path,
        config_path: Path,
        log_path: Path,
        startup_seconds: float,
    ) -> None:
        super().__init__(process, url, directory, log_path)
        self._master_key = master_key
        self.config_path = config_path
        self.startup_seconds = startup_seconds

    @property
    def master_key(self) -> str:
        return self._master_key

    def __repr__(self) -> str:
        return f"ProxyHandle(url={self.url!r}, pid={self.process.pid}, master_key='***')"


def start_proxy(
    tmpdir: str | os.PathLike[str],
    config: dict[str, Any],
    master_key: str,
    *,
    port: int = 0,
    python: str | None = None,
    timeout: float = 90.0,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> ProxyHandle:
    """Write `config` (its master key set to `master_key`), start `litellm` on 127.0.0.1, wait until
    /health/liveliness answers 200, and return the handle. `port` 0 picks a free one."""
    directory = Path(tmpdir)
    directory.mkdir(parents=True, exist_ok=True)
    config = {**config, "general_settings": {**config.get("general_settings", {}), "master_key": master_key}}
    config_path = Path(write_config(directory / "litellm_config.yaml", config))
    log_path = directory / "litellm.log"
    python = python or litellm_python()
    litellm = Path(python).parent / ("litellm.exe" if os.name == "nt" else "litellm")
    child_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    child_env.update(
        {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "NO_PROXY": "127.0.0.1,localhost,::1",
            "no_proxy": "127.0.0.1,localhost,::1",
            "PYTHONUNBUFFERED": "1",
            "LITELLM_LOG": "WARNING",
            "DISABLE_ADMIN_UI": "True",
        }
    )
    child_env.update(env or {})
    attempts = 1 if port else 3
    last_error: Exception | None = None
    for _ in range(attempts):
        chosen = port or free_port()
        try:
            return _launch(
                litellm, config_path, log_path, master_key, chosen, child_env, timeout, directory, extra_args
            )
        except ProxyStartError as exc:  # the port may have been taken between probe and bind
            last_error = exc
            if "address already in use" not in str(exc).lower():
                raise
    assert last_error is not None
    raise last_error


def _launch(
    litellm: Path,
    config_path: Path,
    log_path: Path,
    master_key: str,
    port: int,
    env: dict[str, str],
    timeout: float,
    directory: Path,
    extra_args: tuple[str, ...],
) -> ProxyHandle:
    args = [str(litellm), "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port), *extra_args]
    started = time.monotonic()
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            args,
            cwd=str(directory),
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if _LINUX else None,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = started + timeout
    while True:
        if process.poll() is not None:
            raise ProxyStartError(
                f"the LiteLLM proxy exited with {process.returncode} while starting:\n" + _tail(log_path)
            )
        if _alive(url):
            return ProxyHandle(process, url, master_key, directory, config_path, log_path, time.monotonic() - started)
        if time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=10)
            raise ProxyStartError(f"the LiteLLM proxy did not answer within {timeout:.0f}s:\n" + _tail(log_path))
        time.sleep(0.1)


_LINUX = sys.platform.startswith("linux")


def _die_with_parent() -> None:
    """Linux: the proxy gets SIGTERM when the process that started it dies (a killed test run)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _alive(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health/liveliness", timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"
