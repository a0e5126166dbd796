"""Modes of the reference server that reproduce what real ComfyUI did to Shotcaller's client:
a model file that is listed but unreadable, and an interrupt that lets the running node finish."""

from __future__ import annotations

import time

import pytest

from devservers.comfyui.launch import start_server
from devservers.comfyui.testing import Client, types, wan_prompt


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    handle = start_server(
        tmp_path_factory.mktemp("comfyui-modes"),
        step_seconds=0.01,
        extra_args=["--damaged-model", "vae/broken_vae.safetensors", "--interrupt-lag-seconds", "1.5"],
    )
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url)


def test_a_damaged_file_is_listed_and_fails_at_its_loader(client):
    options = client.get("/object_info/VAELoader").json["VAELoader"]["input"]["required"]["vae_name"][0]
    assert "broken_vae.safetensors" in options and "wan2.2_vae.safetensors" in options
    prompt = wan_prompt("damaged", seed=71)
    prompt["39"]["inputs"]["vae_name"] = "broken_vae.safetensors"
    reply = client.submit(prompt)
    assert reply.status == 200  # validation only sees the name, as on the real server
    entry = client.wait_history(reply.json["prompt_id"])
    assert entry["status"]["status_str"] == "error"
    kind, error = entry["status"]["messages"][-1]
    assert kind == "execution_error"
    assert error["node_id"] == "39" and error["node_type"] == "VAELoader"
    assert error["exception_type"] == "safetensors_rust.SafetensorError"
    assert "header too small" in error["exception_message"]


def test_an_interrupt_lets_the_running_node_finish_first(client):
    with client.websocket("lag-client") as ws:
        reply = client.submit(wan_prompt("lagging", steps=400, seed=72), client_id="lag-client")
        prompt_id = reply.json["prompt_id"]
        while True:  # into the sampler
            message = ws.recv(timeout=10)
            if message["type"] == "progress":
                break
        interrupted_at = time.monotonic()
        assert client.post_json("/interrupt", {"prompt_id": prompt_id}).status == 200
        time.sleep(0.5)
        running = [item[1] for item in client.get("/queue").json["queue_running"]]
        assert running == [prompt_id]  # still busy with it after the interrupt was answered
        messages = ws.collect(prompt_id)
        stopped_after = time.monotonic() - interrupted_at
    assert types(messages)[-3:] == ["execution_interrupted", "status", "executing"]
    assert messages[-3]["data"]["node_type"] == "VAEDecode"  # the sampler ran to its end
    assert stopped_after >= 1.5
    assert client.get("/queue").json == {"queue_running": [], "queue_pending": []}
