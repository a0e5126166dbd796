"""Start the reference Wan2GP MCP server in a subprocess (for test suites).

    from devservers.wan2gp.launch import start_server

    server = start_server(tmp_path)            # output/ and server.log under tmp_path
    server.url                                 # "http://127.0.0.1:PORT"
    server.mcp_url                             # "http://127.0.0.1:PORT/mcp/"
    server.output_dir                          # videos; uploads under output/mcp_uploads/
    server.fail_next("oom")                    # dev-only: the next job fails ("oom" | "error" | "no-weights"
                                               # | "slow-cancel" | "flood"; "none" clears)
    server.state(); server.wait_idle()         # dev-only: is a job running; wait until none is
    server.stop()                              # SIGTERM, then kill; idempotent

    with start_server(tmp_path, step_seconds=0.2) as server: ...

Options (all keyword, all optional):
    port=0                 0 picks a free port
    step_seconds=0.01      seconds per denoising step (and per loading/encoding/decoding phase)
    fail_next=None         a failure mode (see above) or a list of them, one per job
    event_limit=None       events per snapshot when a call gives no event_limit (server default 20)
    weights=None           "missing": no model's weights are downloaded (server default "downloaded")
    extra_args=()          more CLI arguments
    python=sys.executable  interpreter to run the server with
    timeout=30.0           seconds to wait for the "listening" line
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from ..common.launch import ReferenceHandle, launch_module, repeated

READY = re.compile(r"Wan2GP reference MCP server listening on (http://\S+)")


class ServerHandle(ReferenceHandle):
    """A running reference server subprocess. `fail_next` modes: jobs.FAIL_MODES."""

    def __init__(self, process: subprocess.Popen, url: str, directory: Path, log_path: Path):
        super().__init__(process, url, directory, log_path)
        self.mcp_url = url + "/mcp/"

    def state(self) -> dict:
        """Dev-only: {"busy", "active_job", "jobs", "fail_next"}."""
        with urllib.request.urlopen(self.url + "/reference/state", timeout=10) as response:
            return json.loads(response.read())

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until no job runs (a test that left one running must not make the next one busy)."""
        deadline = time.monotonic() + timeout
        while self.state()["busy"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the reference Wan2GP server is still busy after {timeout}s")
            time.sleep(0.02)


def start_server(
    tmpdir: str | os.PathLike,
    *,
    port: int = 0,
    step_seconds: float = 0.01,
    fail_next: str | Iterable[str] | None = None,
    event_limit: int | None = None,
    weights: str | None = None,
    extra_args: Iterable[str] = (),
    python: str | None = None,
    timeout: float = 30.0,
) -> ServerHandle:
    """Launch `python -m devservers.wan2gp` bound to 127.0.0.1 and wait until it listens."""
    directory = Path(tmpdir)
    (directory / "output").mkdir(parents=True, exist_ok=True)
    args = ["--port", str(port), "--host", "127.0.0.1", "--output-dir", str(directory / "output"),
            "--step-seconds", str(step_seconds)]  # fmt: skip
    args += repeated("--fail-next", fail_next)
    if event_limit is not None:
        args += ["--job-event-limit", str(event_limit)]
    if weights is not None:
        args += ["--weights", weights]
    args += list(extra_args)
    process, url, log_path = launch_module(
        "devservers.wan2gp", args, directory, ready=READY, label="Wan2GP", python=python, timeout=timeout
    )
    return ServerHandle(process, url, directory, log_path)
