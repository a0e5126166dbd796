"""Websocket events of a running prompt applied to the job: failures (out of memory, node errors),
previews with their format, slow steps, and progress numbers a server should not send."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from comfyui_doubles import PNG, MiniComfy, Recorder, stub_backend, wan_request
from comfyui_reference import reference_backend, reference_launch, shot_request, step_fractions

from shotcaller.backends.base import OutOfMemory, ProtocolError
from shotcaller.shots import MediaKind


def test_out_of_memory_event_is_out_of_memory(stub, tmp_path: Path):
    MiniComfy(
        stub,
        events=[
            {"type": "execution_start", "data": {}},
            {
                "type": "execution_error",
                "data": {
                    "node_id": "3",
                    "node_type": "KSampler",
                    "exception_type": "torch.OutOfMemoryError",
                    "exception_message": "Allocation on device",
                },
            },
        ],
    )
    with pytest.raises(OutOfMemory, match="node 3 \\(KSampler\\)"):
        stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())
    assert os.listdir(tmp_path) == []


def test_png_and_jpeg_previews_are_forwarded_with_their_format(stub, tmp_path: Path):
    jpeg = b"\xff\xd8\xff\xe0" + b"jpeg-bytes"
    events = MiniComfy(stub).success_events()
    events[6:7] = [
        {"binary": (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + jpeg},  # legacy JPEG
        {"preview4": jpeg, "image_type": "image/jpeg"},
        {"preview4": PNG + b"-4"},
    ]
    MiniComfy(stub, events=events)
    report = Recorder()
    stub_backend(stub).run(wan_request(tmp_path), report, threading.Event())
    assert [(p.preview_format, p.preview_image) for p in report.updates if p.preview_image] == [
        ("jpeg", jpeg),
        ("jpeg", jpeg),
        ("png", PNG + b"-4"),
    ]
    assert report.fractions[-1] == 1.0


def test_out_of_memory_and_node_errors_on_the_reference_server(reference, tmp_path: Path):

    backend = reference_backend(reference)
    reference.fail_next("oom")
    with pytest.raises(OutOfMemory, match="out of memory"):
        backend.run(wan_request(tmp_path, seed=1001), Recorder(), threading.Event())
    reference.fail_next("error")
    with pytest.raises(ProtocolError, match="Simulated runtime error"):
        backend.run(wan_request(tmp_path, seed=1002), Recorder(), threading.Event())
    assert os.listdir(tmp_path) == []


def test_jpeg_previews_and_slow_steps_on_the_reference_server(tmp_path: Path):
    with reference_launch.start_server(tmp_path / "server", preview_format="jpeg", slow_step_seconds=0.03) as server:
        backend = reference_backend(server)
        server.fail_next("slow")
        report = Recorder()
        started = time.monotonic()
        result = backend.run(
            shot_request(tmp_path / "out", "sdxl_base_t2i", MediaKind.IMAGE), report, threading.Event()
        )
        elapsed = time.monotonic() - started
        probe = backend.probe()
    assert elapsed >= 20 * 0.03  # each of the 20 steps crawled, and the job still finished
    steps = step_fractions(report, "3")
    assert len(steps) == 20 and steps == sorted(steps) and steps[-1] > steps[0]
    assert any(p.preview_format == "jpeg" and p.preview_image for p in report.updates)  # as real ComfyUI sends
    assert len(result.files) == 1
    assert (probe.queue_running, probe.queue_pending) == (0, 0)


def test_progress_with_an_infinite_maximum_is_harmless(stub, tmp_path: Path):
    events = [{"type": "progress", "data": {"value": 1, "max": float("inf"), "node": "3"}}]
    comfy = MiniComfy(stub, events=events, history_lag=3)
    # What a server really sends is the text 1e999 (json.dumps would write Infinity): swap it in.
    stub.ws_script = [
        ("raw_text", lambda build=value: json.dumps(build()).replace("Infinity", "1e999")) if kind == "text" else step
        for step in stub.ws_script
        for kind, value in [step]
    ]
    result = stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())
    assert result.files and comfy.prompt_id
