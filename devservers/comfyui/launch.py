"""Start the reference ComfyUI server in a subprocess (for test suites).

    from devservers.comfyui.launch import start_server

    server = start_server(tmp_path)                  # output/, input/, temp/ and server.log under tmp_path
    server.url                                       # "http://127.0.0.1:PORT"
    server.output_dir, server.input_dir, server.temp_dir
    server.fail_next("oom")                          # dev-only: the next executed prompt fails
    server.stop()                                    # SIGTERM, then kill; idempotent

    with start_server(tmp_path, step_seconds=0.2, vram_gb=8) as server: ...

Options (all keyword, all optional):
    port=0                 0 picks a free port
    models=None            ["folder/filename", ...] replaces the defaults (every model file the bundled
                           templates name, catalogue.DEFAULT_MODELS); [] = none
    step_seconds=0.01      seconds per sampler step
    vram_gb=None           report a CUDA device with this much VRAM
    fail_next=None         "oom" | "error" | "drop-ws" | "slow" or a list of them, one per prompt
    preview_method=None    "auto" (default) or "none" to send no binary preview frames
    preview_format=None    "png" (default) or "jpeg" (what real ComfyUI sends)
    slow_step_seconds=None seconds per sampler step of a prompt made "slow" (default 0.5)
    extra_args=()          more CLI arguments
    python=sys.executable  interpreter to run the server with
    timeout=30.0           seconds to wait for the "listening" line
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"ComfyUI reference server listening on (http://\S+)")


class ServerHandle:
    """A running reference server subprocess."""

    def __init__(self, process: subprocess.Popen, url: str, directory: Path, log_path: Path):
        self.process = process
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.ws_url = "ws" + url[len("http") :] + "/ws"
        self.directory = directory
        self.output_dir = directory / "output"
        self.input_dir = directory / "input"
        self.temp_dir = directory / "temp"
        self.log_path = log_path

    def fail_next(self, mode: str) -> list[str]:
        """Dev-only: make the next executed prompt fail ("oom", "error", "drop-ws") or crawl ("slow");
        "none" clears."""
        request = urllib.request.Request(
            self.url + "/reference/fail-next",
            data=json.dumps({"mode": mode}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["fail_next"]

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

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_server(
    tmpdir: str | os.PathLike,
    *,
    port: int = 0,
    models: Iterable[str] | None = None,
    step_seconds: float = 0.01,
    vram_gb: float | None = None,
    fail_next: str | Iterable[str] | None = None,
    preview_method: str | None = None,
    preview_format: str | None = None,
    slow_step_seconds: float | None = None,
    extra_args: Iterable[str] = (),
    python: str | None = None,
    timeout: float = 30.0,
) -> ServerHandle:
    """Launch `python -m devservers.comfyui` bound to 127.0.0.1 and wait until it listens."""
    directory = Path(tmpdir)
    for name in ("output", "input", "temp"):
        (directory / name).mkdir(parents=True, exist_ok=True)
    args = [
        python or sys.executable,
        "-m",
        "devservers.comfyui",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--output-dir",
        str(directory / "output"),
        "--input-dir",
        str(directory / "input"),
        "--temp-dir",
        str(directory / "temp"),
        "--step-seconds",
        str(step_seconds),
    ]
    if models is not None:
        models = list(models)
        args += [f"--model={m}" for m in models] if models else ["--no-default-models"]
    if vram_gb is not None:
        args += ["--vram-gb", str(vram_gb)]
    for mode in [fail_next] if isinstance(fail_next, str) else list(fail_next or []):
        args += ["--fail-next", mode]
    if preview_method is not None:
        args += ["--preview-method", preview_method]
    if preview_format is not None:
        args += ["--preview-format", preview_format]
    if slow_step_seconds is not None:
        args += ["--slow-step-seconds", str(slow_step_seconds)]
    args += list(extra_args)

    log_path = directory / "server.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the drain thread
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(args, cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=log_file)
    assert process.stdout is not None
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            log_file.write(raw)
            log_file.flush()
            match = READY.search(raw.decode(errors="replace"))
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()
        log_file.close()

    threading.Thread(target=drain, name="comfyui-reference-log", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"reference ComfyUI did not start within {timeout}s; see {log_path}")
    if not found:
        process.wait(timeout=5)
        raise RuntimeError(f"reference ComfyUI exited with {process.returncode}: {log_path.read_text()[-2000:]}")
    return ServerHandle(process, found[0], directory, log_path)
