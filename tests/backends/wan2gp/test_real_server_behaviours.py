"""The Wan2GP backend against the reference server's modes that reproduce the real 12.60 server:
weights it cannot download, a cancel it honours only after loading, real-shaped events in real volume."""

from __future__ import annotations

import re
import threading

import pytest

from devservers.wan2gp.launch import start_server
from shotcaller.backends.base import Cancelled, GenerationRequest, MissingResource, Progress
from shotcaller.backends.wan2gp import Wan2GPBackend, Wan2GPClient, Wan2GPPreset
from shotcaller.shots import Quality, make_spec

TEN_STEPS = Wan2GPPreset("ten_steps", "ten steps", Quality.DRAFT, "t2v_1.3B", None, steps=10)


def shot():
    return make_spec(shot_id="shot-0042", label="Harbour", prompt="a harbour at night", width=448, height=256,
                     fps=16, frame_count=17)  # fmt: skip


def run(backend, out, reports=None, *, cancel=None, on_progress=None):
    reports = [] if reports is None else reports

    def report(progress: Progress) -> None:
        reports.append(progress)
        if on_progress:
            on_progress(progress)

    request = GenerationRequest(shot(), backend.offers()[0], str(out), "harbour_take1")
    return backend.run(request, report, cancel or threading.Event()), reports


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    handle = start_server(tmp_path_factory.mktemp("wan2gp-real"), step_seconds=0.05)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory):
    """A Wan2GP that has downloaded no model's weights (--weights missing), as the capture machine."""
    handle = start_server(tmp_path_factory.mktemp("wan2gp-bare"), step_seconds=0.05, weights="missing")
    yield handle
    handle.stop()


def settled(handle):
    handle.wait_idle()
    handle.fail_next("none")
    yield handle
    handle.wait_idle()
    handle.fail_next("none")


@pytest.fixture
def idle(server):
    yield from settled(server)


@pytest.fixture
def bare(bare_server):
    yield from settled(bare_server)


def test_weights_not_downloaded_yet_are_said_before_the_job_and_only_then(idle, bare, tmp_path):
    said = "Wan2GP has not downloaded t2v_1.3B yet: it fetches the weights first"
    for name, handle, expected in (("bare", bare, True), ("normal", idle, False)):
        backend = Wan2GPBackend("gpu-1", handle.mcp_url, presets=[TEN_STEPS], poll_interval=0.05)
        result, reports = run(backend, tmp_path / name)
        assert len(result.files) == 1
        assert (said in [r.message for r in reports]) is expected, [r.message for r in reports]


def test_weights_it_cannot_download_are_a_server_failure_naming_the_file_and_the_fix(bare, tmp_path):
    bare.fail_next("no-weights")
    backend = Wan2GPBackend("gpu-1", bare.mcp_url, vram_gb=24, poll_interval=0.05)
    reports: list[Progress] = []
    with pytest.raises(MissingResource) as caught:
        run(backend, tmp_path, reports)
    error = caught.value
    assert error.message == (
        f"Wan2GP at {backend.client.origin} cannot download model weights: it could not fetch"
        " pose/dw-ll_ucoco_384.onnx (from DeepBeepMeep/Wan2.1 on the Hugging Face hub)"
        " (that machine cannot reach the internet)"
    )
    assert error.hint == (
        "This server cannot download weights: connect it to the internet once, or copy the weights into its"
        " ckpts folder."
    )
    # This server has downloaded no model: every offer of the server stops with it.
    assert set(error.offers) == {o.name for o in backend.offers()}
    assert re.fullmatch(r"cannot download model weights since \d\d:\d\d \(pose/dw-ll_ucoco_384\.onnx\)"
                        r" \(that machine cannot reach the internet\): connect it .*", error.server_state)  # fmt: skip
    messages = [r.message for r in reports]
    assert "Wan2GP cannot reach the Hugging Face hub for model weights (retry 5/5)" in messages
    assert not any("finished" in m for m in messages)
    assert list(tmp_path.iterdir()) == []


def test_a_cancel_is_answered_at_once_and_settles_when_the_server_is_done(idle, tmp_path):
    idle.fail_next("slow-cancel")
    backend = Wan2GPBackend("gpu-1", idle.mcp_url, presets=[TEN_STEPS], poll_interval=0.05)
    cancel = threading.Event()

    def cancel_once_started(progress: Progress) -> None:
        if progress.message.startswith("Loading model"):
            cancel.set()

    with pytest.raises(Cancelled) as caught:
        run(backend, tmp_path, cancel=cancel, on_progress=cancel_once_started)
    job_id = caught.value.server_job_id
    assert caught.value.message == (
        f"shot 'Harbour' was cancelled on Wan2GP at {backend.client.origin}; Wan2GP stops it at its next step"
    )
    client = Wan2GPClient(idle.mcp_url)
    assert client.get_job(job_id).done is False  # still loading: the server finishes that first
    assert caught.value.settle is not None
    caught.value.settle(threading.Event())
    snapshot = client.get_job(job_id)
    assert snapshot.done and snapshot.result["errors"][-1]["stage"] == "cancelled"


def test_console_floods_never_hide_the_steps(idle, tmp_path):
    idle.fail_next("flood")
    backend = Wan2GPBackend("gpu-1", idle.mcp_url, presets=[TEN_STEPS], poll_interval=0.05)
    result, reports = run(backend, tmp_path)
    assert len(result.files) == 1
    messages = [r.message for r in reports]
    steps = {int(m) for m in re.findall(r"\(step (\d+)/10\)", " ".join(messages))}
    assert len(steps) >= 5, messages  # each poll's window is console lines only: the missed events are read
    assert any(m.startswith("Denoising | ") for m in messages)  # status lines with timings
    assert not any("console line" in m for m in messages)
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
