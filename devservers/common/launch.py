"""Start a reference server in a subprocess and hold on to it (for test suites).

`launch_module("devservers.comfyui", args, directory, ready=..., label="ComfyUI")` runs
`python -m devservers.comfyui ARGS` from the repository root, logs its output to
`directory/server.log`, and returns once the server prints its "listening on URL" line.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Self

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port that was free a moment ago (another process may take it before it is bound)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ProcessHandle:
    """A running server subprocess: its URL, folder and log; `stop()` is SIGTERM, then kill, and idempotent."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, directory: Path, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.directory = directory
        self.log_path = log_path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ReferenceHandle(ProcessHandle):
    """A reference server: it writes under `directory/output` and takes failures on demand."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, directory: Path, log_path: Path) -> None:
        super().__init__(process, url, directory, log_path)
        self.output_dir = directory / "output"

    def fail_next(self, mode: str) -> list[str]:
        """Dev-only: make the next job fail this way (the modes are the server's; "none" clears).
        Returns what is queued."""
        request = urllib.request.Request(
            self.url + "/reference/fail-next",
            data=json.dumps({"mode": mode}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            queued: list[str] = json.loads(response.read())["fail_next"]
            return queued


def repeated(flag: str, values: str | Iterable[str] | None) -> list[str]:
    """`flag value` for each value (a lone string is one value): a repeatable command-line option."""
    return [word for value in ([values] if isinstance(values, str) else values or []) for word in (flag, value)]


def launch_module(
    module: str,
    args: Sequence[str],
    directory: Path,
    *,
    ready: re.Pattern[str],
    label: str,
    python: str | None = None,
    timeout: float = 30.0,
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Run `python -m <module> <args>`; return the process, the URL its `ready` line names (group 1)
    and its log, or raise TimeoutError / RuntimeError (saying where the log is) if it never gets there."""
    log_path = directory / "server.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the drain thread
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    command = [python or sys.executable, "-m", module, *args]
    process = subprocess.Popen(command, cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=log_file)
    found: list[str] = []
    started = threading.Event()

    def drain() -> None:
        # Copies stdout to the log for as long as the server runs: a full pipe would block it.
        assert process.stdout is not None
        for raw in process.stdout:
            log_file.write(raw)
            log_file.flush()
            match = ready.search(raw.decode(errors="replace"))
            if match and not found:
                found.append(match.group(1))
                started.set()
        started.set()
        log_file.close()

    name = f"{module.rsplit('.', 1)[-1]}-reference-log"
    threading.Thread(target=drain, name=name, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not started.wait(0.05):
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"reference {label} did not start within {timeout}s; see {log_path}")
    if not found:
        process.wait(timeout=5)
        raise RuntimeError(f"reference {label} exited with {process.returncode}: {log_path.read_text()[-2000:]}")
    return process, found[0], log_path
