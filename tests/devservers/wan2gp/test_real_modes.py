"""The reference Wan2GP server's modes that reproduce the real 12.60 server: weights it cannot download,
a cancel it sees only after loading, real-shaped events in real volume."""

from __future__ import annotations

import pytest

from devservers.wan2gp.launch import start_server
from devservers.wan2gp.real_modes import FLOOD_LINES_PER_STEP, HUB_MESSAGE
from devservers.wan2gp.testing import McpClient

SETTINGS = {"model_type": "t2v_1.3B", "prompt": "a red ball", "resolution": "448x256", "video_length": 17,
            "num_inference_steps": 3, "seed": 42}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    handle = start_server(tmp_path_factory.mktemp("wan2gp-modes"), step_seconds=0.01)
    yield handle
    handle.stop()


@pytest.fixture
def client(server):
    server.wait_idle()
    server.fail_next("none")
    yield McpClient(server.url)
    server.wait_idle()


def test_no_weights_retries_the_hub_then_fails_with_its_message(client, server):
    server.fail_next("no-weights")
    job = client.wait_job(client.value("wangp_generate", source=SETTINGS)["job_id"], event_limit=500)
    result = job["result"]
    assert result["success"] is False and result["cancelled"] is False
    assert result["errors"] == [{"message": HUB_MESSAGE, "task_index": 1, "task_id": 1, "stage": "generation",
                                 "cancelled": False}]  # fmt: skip
    lines = [e["data"]["text"] for e in job["events"] if e["kind"] == "stream"]
    assert sum("Retrying in" in line for line in lines) == 5
    assert max(len(line) for line in lines) < 100  # wrapped like the real console's
    assert any(line.rstrip().endswith("/Wa") or "huggingface.co/DeepBeepMeep" in line for line in lines)
    assert [e["kind"] for e in job["events"]][-2:] == ["error", "completed"]


def test_a_cancel_during_the_download_is_seen_only_after_it(client, server):
    server.fail_next("no-weights")
    job_id = client.value("wangp_generate", source=SETTINGS)["job_id"]
    assert client.value("wangp_cancel_job", job_id=job_id)["done"] is False
    result = client.wait_job(job_id)["result"]
    assert [e["stage"] for e in result["errors"]] == ["generation", "cancelled"]
    assert result["cancelled"] is False  # as the real server: not every error is the cancel


def test_slow_cancel_runs_on_through_loading(client, server):
    server.fail_next("slow-cancel")
    job_id = client.value("wangp_generate", source={**SETTINGS, "num_inference_steps": 200})["job_id"]
    snapshot = client.value("wangp_cancel_job", job_id=job_id)
    assert snapshot["cancel_requested"] and not snapshot["done"]
    assert client.value("wangp_get_job", job_id=job_id)["done"] is False  # still loading
    result = client.wait_job(job_id)["result"]
    assert result["cancelled"] is True and result["errors"][-1]["stage"] == "cancelled"


def test_flood_fills_any_small_window_with_console_lines(client, server):
    server.fail_next("flood")
    job = client.wait_job(client.value("wangp_generate", source=SETTINGS)["job_id"], event_limit=500)
    kinds = [e["kind"] for e in job["events"]]
    assert kinds.count("stream") >= 3 * FLOOD_LINES_PER_STEP
    statuses = [e["data"] for e in job["events"] if e["kind"] == "status"]
    assert any(s.startswith("Denoising | ") and s.endswith("s") for s in statuses)
    inference_without_steps = [e["data"] for e in job["events"] if e["kind"] == "progress"
                               and e["data"]["phase"] == "inference" and e["data"]["current_step"] is None]  # fmt: skip
    assert inference_without_steps and inference_without_steps[0]["status"] == "Prompt 1/1"
    assert job["result"]["success"] is True
