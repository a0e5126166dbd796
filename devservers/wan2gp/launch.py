"""Start the reference Wan2GP MCP server in a subprocess (for test suites).

    from devservers.wan2gp.launch import start_server

    server = start_server(tmp_path)            # output/ and server.log under tmp_path
    server.url                                 # "http://127.0.0.1:PORT"
    server.mcp_url                             # "http://127.0.0.1:PORT/mcp/"
    server.output_dir                          # videos; uploads under output/mcp_uploads/
    server.fail_next("oom")                    # dev-only: the next job fails ("oom" | "error"; "none" clears)
    server.state(); server.wait_idle()         # dev-only: is a job running; wait until none is
    server.stop()                              # SIGTERM, then kill; idempotent

    with start_server(tmp_path, step_seconds=0.2) as server: ...

Options (all keyword, all optional):
    port=0                 0 picks a free port
    step_seconds=0.01      seconds per denoising step (and per loading/encoding/decoding phase)
    fail_next=None         "oom" | "error" or a list of them, one per job
    event_limit=None       events per snapshot when a call gives no event_limit (server default 20)
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
READY = re.compile(r"Wan2GP reference MCP server listening on (http://\S+)")


class ServerHandle:
    """A running reference server subprocess."""

    def __init__(self, process: subprocess.Popen, url: str, directory: Path, log_path: Path):
        self.process = process
        self.url = url
        self.mcp_url = url + "/mcp/"
        self.port = int(url.rsplit(":", 1)[1])
        self.directory = directory
        self.output_dir = directory / "output"
        self.log_path = log_path

    def fail_next(self, mode: str) -> list[str]:
        """Dev-only: make the next job fail ("oom", "error"; "none" clears). Returns what is queued."""
        request = urllib.request.Request(
            self.url + "/reference/fail-next", data=json.dumps({"mode": mode}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["fail_next"]

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

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    tmpdir: str | os.PathLike,
    *,
    port: int = 0,
    step_seconds: float = 0.01,
    fail_next: str | Iterable[str] | None = None,
    event_limit: int | None = None,
    extra_args: Iterable[str] = (),
    python: str | None = None,
    timeout: float = 30.0,
) -> ServerHandle:
    """Launch `python -m devservers.wan2gp` bound to 127.0.0.1 and wait until it listens."""
    directory = Path(tmpdir)
    (directory / "output").mkdir(parents=True, exist_ok=True)
    args = [
        python or sys.executable, "-m", "devservers.wan2gp", "--port", str(port), "--host", "127.0.0.1",
        "--output-dir", str(directory / "output"), "--step-seconds", str(step_seconds),
    ]  # fmt: skip
    for mode in [fail_next] if isinstance(fail_next, str) else list(fail_next or []):
        args += ["--fail-next", mode]
    if event_limit is not None:
        args += ["--job-event-limit", str(event_limit)]
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

    threading.Thread(target=drain, name="wan2gp-reference-log", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"reference Wan2GP did not start within {timeout}s; see {log_path}")
    if not found:
        process.wait(timeout=5)
        raise RuntimeError(f"reference Wan2GP exited with {process.returncode}: {log_path.read_text()[-2000:]}")
    return ServerHandle(process, found[0], directory, log_path)
