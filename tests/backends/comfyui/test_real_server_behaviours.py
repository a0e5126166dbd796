"""The client against the reference server's modes that reproduce real ComfyUI: every missing file of
a template at once, a damaged model file failing at its loader, an interrupt that finishes the node."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import pytest

from devservers.comfyui.launch import start_server
from shotcaller.backends.base import Cancelled, GenerationRequest, MissingResource, Offer, Progress
from shotcaller.backends.comfyui import ComfyUIBackend
from shotcaller.backends.comfyui.templates import BUNDLED_TEMPLATE_DIR
from shotcaller.shots import MediaKind, Quality, make_spec


def request(tmp_path: Path, template: str, media: MediaKind = MediaKind.VIDEO, **fields) -> GenerationRequest:
    values = {"shot_id": "c" * 32, "label": "Cove", "prompt": "a cove at dawn", "width": 64, "height": 64,
              "frame_count": 9, "fps": 16.0, "seed": 3}  # fmt: skip
    values.update(fields)
    return GenerationRequest(make_spec(**values), Offer(template, media, Quality.DRAFT), str(tmp_path / "out"), "take")


def backend(server, dirs=None) -> ComfyUIBackend:
    return ComfyUIBackend("gpu-1", server.url, dirs or [BUNDLED_TEMPLATE_DIR], timeout=10, poll_interval=0.05)


def test_every_missing_file_and_node_type_of_a_template_in_one_message(tmp_path: Path):
    # A user template: the SDXL workflow with a custom node, on a server with no models at all.
    templates = tmp_path / "templates"
    templates.mkdir()
    workflow = json.loads((Path(BUNDLED_TEMPLATE_DIR) / "sdxl_base_t2i.json").read_text())
    workflow["8"]["class_type"] = "FancyVAEDecode"
    (templates / "sdxl_custom.json").write_text(json.dumps(workflow))
    binding = json.loads((Path(BUNDLED_TEMPLATE_DIR) / "sdxl_base_t2i.binding.json").read_text())
    binding.update(name="sdxl_custom", workflow="sdxl_custom.json")
    (templates / "sdxl_custom.binding.json").write_text(json.dumps(binding))
    with start_server(tmp_path / "server", models=[]) as server:
        comfy = backend(server, [BUNDLED_TEMPLATE_DIR, str(templates)])
        with pytest.raises(MissingResource) as flux:
            comfy.run(request(tmp_path, "flux1_dev_t2i", MediaKind.IMAGE, frame_count=1), Progress, threading.Event())
        with pytest.raises(MissingResource) as custom:
            comfy.run(request(tmp_path, "sdxl_custom", MediaKind.IMAGE, frame_count=1), Progress, threading.Event())
    message = flux.value.message
    assert "lacks what template 'flux1_dev_t2i' needs: 4 model files" in message
    for name, folder in [
        ("flux1-dev.safetensors", "diffusion_models"),
        ("clip_l.safetensors", "text_encoders"),
        ("t5xxl_fp16.safetensors", "text_encoders"),
        ("ae.safetensors", "vae"),
    ]:
        assert f"{name} in models/{folder}/" in message
    assert "ComfyUI/models/diffusion_models/, ComfyUI/models/text_encoders/, ComfyUI/models/vae/" in flux.value.hint
    assert "1 model file: sd_xl_base_1.0.safetensors in models/checkpoints/" in custom.value.message
    assert "1 node type: 'FancyVAEDecode' (node 8)" in custom.value.message
    assert "custom node packs" in custom.value.hint


def test_a_damaged_model_file_is_named_with_its_folder_and_server(tmp_path: Path):
    damaged = ["--damaged-model", "vae/wan2.2_vae.safetensors"]
    with start_server(tmp_path / "server", extra_args=damaged) as server, pytest.raises(MissingResource) as caught:
        backend(server).run(request(tmp_path, "wan22_ti2v_5b_t2v"), Progress, threading.Event())
    error = caught.value
    assert error.failover  # the file is there but unusable: another server may have a good copy
    assert error.message.startswith(
        f"the VAE file wan2.2_vae.safetensors on ComfyUI at {server.url} is damaged or incomplete: download it again"
    )
    assert "header too small" in error.message
    assert "ComfyUI/models/vae/" in error.hint


def queue_ids(url: str) -> dict[str, list[str]]:
    with urllib.request.urlopen(url + "/queue", timeout=10) as response:
        queue = json.loads(response.read())
    return {key: [item[1] for item in queue[key]] for key in ("queue_running", "queue_pending")}


def test_a_cancel_returns_at_once_and_settles_when_the_prompt_leaves_the_queue(tmp_path: Path):
    with start_server(tmp_path / "server", step_seconds=0.02, extra_args=["--interrupt-lag-seconds", "3"]) as server:
        cancel = threading.Event()

        def watch(progress: Progress) -> None:
            if "step 2/" in progress.message:
                cancel.set()

        with pytest.raises(Cancelled) as caught:
            backend(server).run(request(tmp_path, "wan22_ti2v_5b_t2v", frame_count=33), watch, cancel)
        # The user's cancel is answered now; the server is still finishing the node it was in.
        assert len(queue_ids(server.url)["queue_running"]) == 1
        assert caught.value.settle is not None
        caught.value.settle(threading.Event())
        assert queue_ids(server.url) == {"queue_running": [], "queue_pending": []}


def test_a_node_the_reference_server_cannot_run_is_refused_before_it_runs(tmp_path: Path):
    templates = tmp_path / "templates"
    templates.mkdir()
    workflow = json.loads((Path(BUNDLED_TEMPLATE_DIR) / "sdxl_base_t2i.json").read_text())
    workflow["10"] = {"class_type": "ImageBlur", "inputs": {"image": ["8", 0], "blur_radius": 1, "sigma": 1.0}}
    workflow["9"]["inputs"]["images"] = ["10", 0]
    (templates / "sdxl_blur.json").write_text(json.dumps(workflow))
    binding = json.loads((Path(BUNDLED_TEMPLATE_DIR) / "sdxl_base_t2i.binding.json").read_text())
    binding.update(name="sdxl_blur", workflow="sdxl_blur.json")
    (templates / "sdxl_blur.binding.json").write_text(json.dumps(binding))
    with start_server(tmp_path / "server") as server:
        with pytest.raises(MissingResource) as caught:
            backend(server, [str(templates)]).run(
                request(tmp_path, "sdxl_blur", MediaKind.IMAGE, frame_count=1), Progress, threading.Event()
            )
        queue = queue_ids(server.url)
    assert "no node type 'ImageBlur'" in caught.value.message
    assert "cannot run it" in caught.value.message and caught.value.failover
    assert queue == {"queue_running": [], "queue_pending": []}  # refused, never queued
