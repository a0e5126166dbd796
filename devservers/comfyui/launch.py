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

import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from ..common.launch import ReferenceHandle, launch_module, repeated

READY = re.compile(r"ComfyUI reference server listening on (http://\S+)")


class ServerHandle(ReferenceHandle):
    """A running reference server subprocess. `fail_next` modes: "oom", "error", "drop-ws", "slow"."""

    def __init__(self, process: subprocess.Popen, url: str, directory: Path, log_path: Path):
        super().__init__(process, url, directory, log_path)
        self.ws_url = "ws" + url[len("http") :] + "/ws"
        self.input_dir = directory / "input"
        self.temp_dir = directory / "temp"


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
    args += repeated("--fail-next", fail_next)
    if preview_method is not None:
        args += ["--preview-method", preview_method]
    if preview_format is not None:
        args += ["--preview-format", preview_format]
    if slow_step_seconds is not None:
        args += ["--slow-step-seconds", str(slow_step_seconds)]
    args += list(extra_args)
    process, url, log_path = launch_module(
        "devservers.comfyui", args, directory, ready=READY, label="ComfyUI", python=python, timeout=timeout
    )
    return ServerHandle(process, url, directory, log_path)
