"""The Wan2GP backend end to end: shots to takes through the reference server (and stubs for odd shapes)."""

from __future__ import annotations

import itertools
import re
import threading

import av
import numpy as np
import pytest
from aiohttp import web
from PIL import Image

from shotcaller.backends.base import (
    BackendBusy,
    BackendUnreachable,
    Cancelled,
    GenerationRequest,
    InvalidRequest,
    MissingResource,
    Offer,
    OutOfMemory,
    Progress,
    ProtocolError,
)
from shotcaller.backends.policy import TransportPolicy
from shotcaller.backends.server_job import JobTimedOut
from shotcaller.backends.wan2gp import Wan2GPBackend, Wan2GPClient, Wan2GPPreset
from shotcaller.shots import MediaKind, Quality, make_spec

MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"  # what the media check looks for
SLOW = Wan2GPPreset("slow_draft", "slow draft", Quality.DRAFT, "t2v_1.3B", None, steps=400)


def shot(**fields):
    fields.setdefault("shot_id", "shot-0001")
    fields.setdefault("label", "Opening")
    fields.setdefault("prompt", "a lighthouse at dusk, waves")
    fields.setdefault("width", 448)
    fields.setdefault("height", 256)
    fields.setdefault("fps", 24)
    fields.setdefault("frame_count", 17)
    return make_spec(**fields)


def offer_named(backend, name):
    return next(o for o in backend.offers() if o.name == name)


def run(backend, spec, offer_name, out, *, cancel=None, on_progress=None):
    reports: list[Progress] = []

    def report(progress: Progress) -> None:
        reports.append(progress)
        if on_progress:
            on_progress(progress)

    request = GenerationRequest(spec, offer_named(backend, offer_name), str(out), "opening_take1")
    return backend.run(request, report, cancel or threading.Event()), reports


def video_facts(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return stream.width, stream.height, float(stream.average_rate), frames


def test_a_draft_shot_becomes_a_take(idle_reference, tmp_path):
    backend = Wan2GPBackend("gpu1", idle_reference.mcp_url, poll_interval=0.05)
    result, reports = run(backend, shot(), "wan2gp_draft_5b", tmp_path)
    (path,) = result.files
    assert path == str(tmp_path / "opening_take1.mp4")
    width, height, fps, frames = video_facts(path)
    assert (width, height, fps, len(frames)) == (448, 256, 24.0, 17)  # TI2V 5B: 24 fps, 17 = 4*4+1
    assert result.model == "Wan2.2 TextImage2video 5B"
    assert re.fullmatch(r"[0-9a-f]{32}", result.server_job_id)
    params = result.parameters
    assert (params["model_type"], params["frame_count"], params["fps"], params["steps"]) == ("ti2v_2_2", 17, 24.0, 20)
    assert params["wan2gp_settings"]["resolution"] == "448x256"
    assert params["wan2gp_settings"]["guidance_scale"] == 5  # the model's defaults are recorded too
    assert params["server_url"] == idle_reference.mcp_url and params["backend_instance"] == "gpu1"
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    messages = [r.message for r in reports]
    assert any("Denoising (step 20/20)" in m for m in messages)
    assert not any("Processing request" in m for m in messages)  # console stream events are not progress
    assert [p.name for p in tmp_path.iterdir()] == ["opening_take1.mp4"]


def test_a_final_shot_uses_the_14b_at_its_own_fps(idle_reference, tmp_path):
    backend = Wan2GPBackend("gpu1", idle_reference.mcp_url, poll_interval=0.05)
    result, _ = run(backend, shot(frame_count=24), "wan2gp_final_14b", tmp_path)  # 1 s at 24 fps
    width, height, fps, frames = video_facts(result.files[0])
    assert (width, height, fps, len(frames)) == (448, 256, 16.0, 17)  # 1 s at 16 fps, up to 4n+1
    assert result.parameters["model_type"] == "t2v_2_2" and result.model == "Wan2.2 Text2video 14B"


def test_init_image_is_uploaded_and_used(idle_reference, tmp_path):
    start = tmp_path / "start.png"
    Image.new("RGB", (64, 48), (0, 200, 0)).save(start)
    backend = Wan2GPBackend("gpu1", idle_reference.mcp_url, poll_interval=0.05)
    out = tmp_path / "out"
    result, reports = run(backend, shot(init_image=str(start)), "wan2gp_draft_5b", out)
    settings = result.parameters["wan2gp_settings"]
    assert settings["image_prompt_type"] == "S" and settings["image_start"].startswith("visual:")
    assert any("uploading the init image" in r.message for r in reports)
    _, _, _, frames = video_facts(result.files[0])
    # The video starts on the start image (so a continued shot can be checked frame by frame)...
    assert np.allclose(frames[0].reshape(-1, 3).mean(axis=0), (0, 200, 0), atol=12), frames[0].mean(axis=(0, 1))
    # ...and moves away from it.
    assert not np.allclose(frames[-1].reshape(-1, 3).mean(axis=0), (0, 200, 0), atol=12)
    result, _ = run(backend, shot(init_image=str(start)), "wan2gp_final_14b", out)
    assert result.parameters["model_type"] == "i2v_2_2"


def test_busy_server_is_backend_busy(idle_reference, tmp_path):
    client = Wan2GPClient(idle_reference.mcp_url)
    other = client.generate({"model_type": "t2v_1.3B", "prompt": "someone else's job", "resolution": "448x256",
                             "video_length": 5, "num_inference_steps": 400})  # fmt: skip
    try:
        backend = Wan2GPBackend("gpu1", idle_reference.mcp_url, poll_interval=0.05)
        with pytest.raises(BackendBusy) as caught:
            run(backend, shot(), "wan2gp_draft_5b", tmp_path)
        assert caught.value.failover and "one generation at a time" in caught.value.message
    finally:
        client.cancel_job(other.job_id)
    assert list(tmp_path.iterdir()) == []


def test_cancel_stops_the_job_on_the_server(idle_reference, tmp_path):
    backend = Wan2GPBackend("gpu1", idle_reference.mcp_url, presets=[SLOW], poll_interval=0.05)
    cancel = threading.Event()

    def cancel_at_step_3(progress: Progress) -> None:
        if "(step 3/" in progress.message:
            cancel.set()

    with pytest.raises(Cancelled) as caught:
        run(backend, shot(), "slow_draft", tmp_path, cancel=cancel, on_progress=cancel_at_step_3)
    job_id = caught.value.server_job_id
    assert re.fullmatch(r"[0-9a-f]{32}", job_id) and job_id not in caught.value.message
    assert caught.value.message in (
        f"shot 'Opening' was cancelled on Wan2GP at {backend.client.origin}; Wan2GP stops it at its next step",
        f"shot 'Opening' was cancelled on Wan2GP at {backend.client.origin}",  # it had stopped already
    )
    if caught.value.settle is not None:  # it may already have stopped when the cancel was answered
        caught.value.settle(threading.Event())
    snapshot = Wan2GPClient(idle_reference.mcp_url).get_job(job_id)
    assert snapshot.done and snapshot.cancel_requested
    assert snapshot.result["errors"][-1]["stage"] == "cancelled" and snapshot.result["generated_files"] == []
    assert list(tmp_path.iterdir()) == []


def test_out_of_memory_on_the_server(idle_reference, tmp_path):
    idle_reference.fail_next("oom")
    backend = Wan2GPBackend("gpu1", idle_reference.mcp_url, poll_interval=0.05)
    with pytest.raises(OutOfMemory) as caught:
        run(backend, shot(), "wan2gp_final_14b", tmp_path)
    assert "unsufficient VRAM" in caught.value.message and "resolution" in caught.value.hint
    assert caught.value.failover


def test_a_job_that_errors(idle_reference, tmp_path):
    idle_reference.fail_next("error")
    backend = Wan2GPBackend("gpu1", idle_reference.mcp_url, poll_interval=0.05)
    with pytest.raises(ProtocolError) as caught:
        run(backend, shot(), "wan2gp_draft_5b", tmp_path)
    assert "please check your terminal" in caught.value.message
    assert "Wan2GP console" in caught.value.hint


def test_probe_and_models(idle_reference):
    backend = Wan2GPBackend("gpu1", idle_reference.mcp_url)
    probe = backend.probe()
    assert probe.server_name == "WanGP" and probe.missing_tools == () and "wangp_generate" in probe.tools
    assert backend.missing_offers() == {}
    models = {m["model_type"] for m in backend.video_models()}
    assert {"t2v_1.3B", "t2v_2_2", "ti2v_2_2", "i2v_2_2"} <= models and "ace_step_v1" not in models


def test_refused_connection(refused_url, tmp_path):
    backend = Wan2GPBackend("gpu1", refused_url)
    with pytest.raises(BackendUnreachable) as caught:
        run(backend, shot(), "wan2gp_draft_5b", tmp_path)
    assert "python wgp.py --mcp --mcp-transport streamable-http" in caught.value.hint


def test_unknown_offer_and_missing_model(stub, tmp_path):
    backend = Wan2GPBackend("gpu1", stub.mcp_url)
    request = GenerationRequest(shot(), Offer("elsewhere", MediaKind.VIDEO, Quality.DRAFT), str(tmp_path), "x")
    with pytest.raises(InvalidRequest, match="no preset 'elsewhere'"):
        backend.run(request, lambda p: None, threading.Event())
    stub.tools["wangp_get_model_schema"] = lambda args: stub.ok(None, wrapped=True)
    with pytest.raises(MissingResource, match="does not have the model ti2v_2_2") as caught:
        run(backend, shot(), "wan2gp_draft_5b", tmp_path)
    assert "Update Wan2GP" in caught.value.hint
    assert backend.missing_offers() == {
        "wan2gp_draft_5b": caught.value.message,
        "wan2gp_final_14b": caught.value.message.replace("ti2v_2_2 (Wan2.2 TextImage2video 5B)",
                                                         "t2v_2_2 (Wan2.2 Text2video 14B)"),
    }  # fmt: skip


def scripted(stub, snapshots, *, result=None, gallery=()):
    """A stub Wan2GP that knows ti2v_2_2 and answers get_job with `snapshots` in turn."""
    schema = {"metadata": {"model_type": "ti2v_2_2", "name": "Wan2.2 TextImage2video 5B", "main_output": ["video"],
                           "fps": 24, "frames_minimum": 5, "frames_steps": 4, "frames_maximum": 121}}  # fmt: skip
    stub.tools["wangp_get_model_schema"] = lambda args: stub.ok(schema, wrapped=True)
    stub.tools["wangp_get_default_settings"] = lambda args: stub.ok({"model_type": "ti2v_2_2", "guidance_scale": 5})
    stub.tools["wangp_get_model_availability"] = lambda args: stub.ok({"available": True})
    stub.tools["wangp_generate"] = lambda args: stub.ok({"job_id": "j1", "done": False, "events": []})
    answers = iter(snapshots)
    stub.tools["wangp_get_job"] = lambda args: next(answers)
    stub.tools["wangp_list_gallery"] = lambda args: stub.ok(list(gallery), wrapped=True)
    stub.tools["wangp_create_gallery_download"] = lambda args: stub.ok(
        {"download_url": "/dl/1", "filename": "x.mp4", "media_type": "video"}
    )


def done(result):
    return {"content": [], "structuredContent": {"job_id": "j1", "done": True, "events": [], "result": result},
            "isError": False}  # fmt: skip


def test_outputs_found_in_the_gallery_when_the_result_lists_only_files(stub, tmp_path):
    path = "/srv/wan2gp/outputs/2026-08-21-18h37m12s_seed42_a lighthouse.mp4"
    result = {"success": True, "generated_files": [path], "errors": [], "gallery_items": []}
    scripted(stub, [done(result)], gallery=[{"gallery_id": "visual:0123456789ab", "path": path,
                                             "media_type": "video"}])  # fmt: skip
    stub.routes[("GET", "/dl/1")] = lambda request: web.Response(body=MP4_HEAD + b"mp4 bytes")
    backend = Wan2GPBackend("gpu1", stub.mcp_url, poll_interval=0.01)
    result, _ = run(backend, shot(), "wan2gp_draft_5b", tmp_path)
    assert result.files == (str(tmp_path / "opening_take1.mp4"),)
    assert (tmp_path / "opening_take1.mp4").read_bytes() == MP4_HEAD + b"mp4 bytes"


@pytest.mark.parametrize(
    ("answers", "error", "match"),
    [
        ([done({"success": True, "generated_files": [], "gallery_items": []})], ProtocolError, "without a video"),
        ([done({"success": True, "generated_files": ["/srv/out/a.mp4"], "gallery_items": []})], ProtocolError,
         "gallery does not list it"),
        ([done(None)], ProtocolError, "sent no result"),
        ([{"content": [{"type": "text", "text": "Error executing tool wangp_get_job: 'Unknown WanGP job_id: j1'"}],
           "isError": True}], ProtocolError, "probably restarted"),
        ([{"content": [], "structuredContent": {"jobs": []}, "isError": False}], ProtocolError, "without a job"),
        ([done({"success": False, "cancelled": True, "errors": []})], Cancelled, "cancelled on Wan2GP"),
    ],
)  # fmt: skip
def test_odd_job_answers(stub, tmp_path, answers, error, match):
    scripted(stub, answers)
    backend = Wan2GPBackend("gpu1", stub.mcp_url, poll_interval=0.01)
    with pytest.raises(error, match=match):
        run(backend, shot(), "wan2gp_draft_5b", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cancelled_before_sending_sends_nothing(stub, tmp_path):
    scripted(stub, [])
    cancel = threading.Event()
    cancel.set()
    backend = Wan2GPBackend("gpu1", stub.mcp_url)
    with pytest.raises(Cancelled, match="before it was sent"):
        run(backend, shot(), "wan2gp_draft_5b", tmp_path, cancel=cancel)
    assert not [c for c in stub.calls("tools/call") if c["params"]["name"] == "wangp_generate"]


def test_a_long_shot_is_one_job_in_sliding_windows(idle_reference, tmp_path):
    backend = Wan2GPBackend("gpu1", idle_reference.mcp_url, poll_interval=0.05)
    result, _ = run(backend, shot(frame_count=240, width=256, height=144), "wan2gp_draft_5b", tmp_path)  # 10 s
    settings = result.parameters["wan2gp_settings"]
    assert settings["video_length"] == 241 and settings["sliding_window_size"] == 121
    assert result.parameters["windows"] == 2
    _, _, fps, frames = video_facts(result.files[0])
    assert (fps, len(frames)) == (24.0, 241)  # the whole shot in one take, no segment of Shotcaller's


# --- the job deadline, numbers from the server, errors on the way out ------------------------


def running(**data):
    events = [{"kind": "progress", "timestamp": 1.0, "data": data}] if data else []
    return {"content": [], "structuredContent": {"job_id": "j1", "done": False, "events": events}, "isError": False}


def cancelled_jobs(stub):
    return [
        c["params"]["arguments"]["job_id"]
        for c in stub.calls("tools/call")
        if c["params"]["name"] == "wangp_cancel_job"
    ]


def test_a_job_the_server_keeps_running_is_cancelled_at_its_deadline(stub, tmp_path):
    scripted(stub, itertools.repeat(running()))
    stub.tools["wangp_cancel_job"] = lambda args: stub.ok({"job_id": "j1", "done": True, "events": []})
    backend = Wan2GPBackend("gpu1", stub.mcp_url, poll_interval=0.02, policy=TransportPolicy(job_seconds=0.4))
    with pytest.raises(JobTimedOut, match="job deadline; it was cancelled on the server") as caught:
        run(backend, shot(), "wan2gp_draft_5b", tmp_path)
    assert caught.value.failover
    assert cancelled_jobs(stub) == ["j1"]
    assert list(tmp_path.iterdir()) == []


def test_progress_numbers_of_1e999_are_no_numbers(stub, tmp_path):
    # json.dumps writes inf as Infinity; a server writes 1e999, which Python reads as inf.
    progress = running(phase="denoising", current_step=1e999, total_steps=1e999, progress=1e999)
    result = {
        "success": True,
        "generated_files": [],
        "gallery_items": [{"gallery_id": "visual:1", "media_type": "video"}],
    }
    scripted(stub, [progress, done(result)])
    stub.routes[("GET", "/dl/1")] = lambda request: web.Response(body=MP4_HEAD)
    backend = Wan2GPBackend("gpu1", stub.mcp_url, poll_interval=0.01)
    result_, reports = run(backend, shot(), "wan2gp_draft_5b", tmp_path)
    assert result_.files and all(0.0 <= r.fraction <= 1.0 for r in reports)


def test_an_unexpected_error_after_starting_is_typed_and_cancels_the_job(stub, tmp_path):
    scripted(stub, itertools.repeat(running()))
    stub.tools["wangp_cancel_job"] = lambda args: stub.ok({"job_id": "j1", "done": True, "events": []})

    def explode(progress: Progress) -> None:
        if "started" in progress.message:
            raise ZeroDivisionError("a bug in a progress handler")

    backend = Wan2GPBackend("gpu1", stub.mcp_url, poll_interval=0.01)
    with pytest.raises(ProtocolError, match="could not use"):
        run(backend, shot(), "wan2gp_draft_5b", tmp_path, on_progress=explode)
    assert cancelled_jobs(stub) == ["j1"]


def test_an_html_page_for_the_video_is_not_kept(stub, tmp_path):
    result = {
        "success": True,
        "generated_files": [],
        "gallery_items": [{"gallery_id": "visual:1", "media_type": "video"}],
    }
    scripted(stub, [done(result)])
    stub.routes[("GET", "/dl/1")] = lambda request: web.Response(body=b"<html><body>502 Bad Gateway</body></html>")
    backend = Wan2GPBackend("gpu1", stub.mcp_url, poll_interval=0.01)
    with pytest.raises(ProtocolError, match="not a video: it begins with '<html>"):
        run(backend, shot(), "wan2gp_draft_5b", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_server_killed_mid_job_is_not_also_reported_as_a_failed_cancel(tmp_path, caplog):
    import logging

    from devservers.wan2gp.launch import start_server

    caplog.set_level(logging.INFO)
    with start_server(tmp_path / "server", step_seconds=0.1) as server:
        backend = Wan2GPBackend("gpu1", server.mcp_url, poll_interval=0.05)

        def kill_at_step_two(progress: Progress) -> None:
            if "step 2/" in progress.message and server.alive():
                server.process.kill()  # as a crash would
                server.process.wait()

        with pytest.raises(BackendUnreachable):
            run(backend, shot(), "wan2gp_draft_5b", tmp_path / "out", on_progress=kill_at_step_two)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in warnings if "could not cancel" in w], warnings
