"""A prompt followed to its end and cancelled on the server: history lagging behind the events, no
websocket or a dropped one, cancels while queued or running, a job gone or past its deadline."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from comfyui_doubles import JSON, MiniComfy, Recorder, stub_backend, wan_request
from comfyui_reference import reference_backend, reference_launch, server_json, single_history_entry

from shotcaller.backends.base import BackendUnreachable, Cancelled, Progress
from shotcaller.backends.policy import TransportPolicy
from shotcaller.backends.server_job import JobTimedOut


def test_history_lagging_behind_execution_success_is_waited_for(stub, tmp_path: Path):
    comfy = MiniComfy(stub, history_lag=3)
    result = stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())
    assert len(result.files) == 1
    assert comfy.history_polls == 4


def test_without_websocket_the_job_is_followed_by_polling(stub, tmp_path: Path):
    comfy = MiniComfy(stub, websocket=False, history_lag=4)
    report = Recorder()
    result = stub_backend(stub).run(wan_request(tmp_path), report, threading.Event())
    assert len(result.files) == 1 and os.listdir(tmp_path) == ["sh010_take01.mp4"]
    assert comfy.history_polls >= 5
    assert report.fractions[-1] == 1.0


def test_cancel_while_pending_deletes_from_the_queue_and_never_interrupts(stub, tmp_path: Path):
    comfy = MiniComfy(stub, events=[])
    stub.on(
        "GET",
        "/queue",
        lambda request: (
            200,
            {"queue_running": [[0, "someone-else", {}, {}, []]], "queue_pending": [[1, comfy.prompt_id, {}, {}, []]]},
            JSON,
        ),
    )
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(Cancelled):
        stub_backend(stub).run(wan_request(tmp_path), Recorder(), cancel)
    assert [json.loads(b) for b in stub.requests_to("POST", "/queue")] == [{"delete": [comfy.prompt_id]}]
    assert stub.requests_to("POST", "/interrupt") == []


def test_job_that_vanished_from_queue_and_history_is_reported(stub, tmp_path: Path):
    MiniComfy(stub, websocket=False, history_lag=10**6)
    stub.on("GET", "/queue", (200, {"queue_running": [], "queue_pending": []}, JSON))
    with pytest.raises(Cancelled, match="no longer has the job"):
        stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())


def test_websocket_drop_completes_by_polling_history(reference, tmp_path: Path, caplog):
    caplog.set_level(logging.INFO, logger="shotcaller.backends.comfyui.following")
    prompts_before = len(server_json(reference, "/history"))
    reference.fail_next("drop-ws")
    report = Recorder()
    result = reference_backend(reference).run(wan_request(tmp_path, seed=2001), report, threading.Event())
    assert "dropped" in caplog.text  # the socket really went away mid-job
    assert len(result.files) == 1
    assert os.listdir(tmp_path) == ["sh010_take01.mp4"]
    assert len(server_json(reference, "/history")) == prompts_before + 1  # submitted once, not again
    assert report.fractions[-1] == 1.0 and report.fractions == sorted(report.fractions)


def test_cancel_while_running_interrupts_the_prompt(tmp_path: Path):
    with reference_launch.start_server(tmp_path / "server", step_seconds=0.1) as server:
        cancel = threading.Event()
        cancelled_at: list[float] = []

        def watch(progress: Progress) -> None:
            if "step 2/" in progress.message and not cancel.is_set():
                cancelled_at.append(time.monotonic())
                cancel.set()

        with pytest.raises(Cancelled) as caught:
            reference_backend(server).run(wan_request(tmp_path / "out", seed=4001), watch, cancel)
        cancel_latency = time.monotonic() - cancelled_at[0]
        prompt_id, entry = single_history_entry(server)
        # The shot by its name; the prompt's UUID only for the log (it said "(ComfyUI prompt <uuid>)").
        assert caught.value.message == f"shot 'Lighthouse' was cancelled on ComfyUI at {server.url}"
        assert caught.value.server_job_id == prompt_id
        assert entry["status"]["status_str"] == "error"
        assert [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"
        assert server_json(server, "/queue") == {"queue_running": [], "queue_pending": []}
    assert cancel_latency < 1.0  # the remaining 18 steps of 0.1 s would take 1.8 s
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_cancel_while_queued_removes_it_from_the_queue(tmp_path: Path):
    with reference_launch.start_server(tmp_path / "server", step_seconds=0.05) as server:
        blocker = threading.Thread(
            target=lambda: reference_backend(server).run(
                wan_request(tmp_path / "first", seed=5001), Recorder(), threading.Event()
            )
        )
        blocker.start()
        cancel = threading.Event()

        def cancel_once_queued(progress: Progress) -> None:
            if progress.message == "queued on ComfyUI":
                cancel.set()

        time.sleep(0.3)  # the first prompt is running
        with pytest.raises(Cancelled):
            reference_backend(server).run(wan_request(tmp_path / "second", seed=5002), cancel_once_queued, cancel)
        queue = server_json(server, "/queue")
        assert queue["queue_pending"] == []
        blocker.join(30)
        history = server_json(server, "/history")
    assert [e["status"]["status_str"] for e in history.values()] == ["success"]  # the first was not interrupted


def test_a_job_the_server_keeps_running_is_cancelled_at_its_deadline(stub, tmp_path: Path):
    comfy = MiniComfy(stub, events=[], websocket=False, history_lag=10**6)
    backend = stub_backend(stub, policy=TransportPolicy(job_seconds=0.5))
    with pytest.raises(JobTimedOut, match="job deadline; it was cancelled on the server") as caught:
        backend.run(wan_request(tmp_path), Recorder(), threading.Event())
    assert caught.value.failover, "another server may still make the shot"
    assert "Job deadline" in caught.value.hint
    assert [json.loads(b) for b in stub.requests_to("POST", "/interrupt")] == [{"prompt_id": comfy.prompt_id}]
    assert list(tmp_path.iterdir()) == []


def test_a_server_killed_mid_job_is_not_also_reported_as_a_failed_cancel(tmp_path: Path, caplog):
    caplog.set_level(logging.INFO)
    with reference_launch.start_server(tmp_path / "server", step_seconds=0.1) as server:

        def watch(progress: Progress) -> None:
            if "step 2/" in progress.message and server.alive():
                server.process.kill()  # as a crash would: no answer to anything after this
                server.process.wait()

        with pytest.raises(BackendUnreachable):
            reference_backend(server).run(wan_request(tmp_path / "out", seed=4101), watch, threading.Event())
    # Cancelling on a server that is gone cannot work and changes nothing: the shot's own failure says
    # the server is not there; a second warning in the console that names the settings only confuses.
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in warnings if "could not cancel" in w], warnings


def test_a_server_stopped_with_sigterm_mid_job_went_away_and_nobody_pressed_cancel(tmp_path: Path):
    # Real ComfyUI has no SIGTERM handler: the process dies where it is, interrupting nothing. The shot
    # fails as a server that went away (another server may make it), not as a cancel someone pressed.
    with reference_launch.start_server(tmp_path / "server", step_seconds=0.1) as server:

        def watch(progress: Progress) -> None:
            if "step 2/" in progress.message and server.alive():
                server.process.terminate()
                server.process.wait()

        with pytest.raises(BackendUnreachable) as caught:
            reference_backend(server).run(wan_request(tmp_path / "out", seed=4102), watch, threading.Event())
        assert server.process.returncode == -15  # killed by the signal, as the real one
    error = caught.value
    assert error.failover
    assert "pressed Cancel" not in error.hint and "interrupted" not in error.message
    assert error.message == (
        f"ComfyUI at {server.url} went away in the middle of the job: nothing is listening there any more"
        " (connection refused)"
    )
    assert error.hint == (
        "The server was stopped or crashed while making this shot (its console says which); start it again."
    )
