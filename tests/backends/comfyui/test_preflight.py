"""The server checks before a prompt is sent: node types, model files and choices the server lacks,
and the cached /object_info looked at again before a model is blamed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from comfyui_doubles import JSON, WAN, MiniComfy, Recorder, stub_backend, wan_object_info, wan_request
from comfyui_reference import reference_backend, reference_launch, server_json

from shotcaller.backends.base import MissingResource


def test_missing_node_type_fails_preflight_without_submitting(stub, tmp_path: Path):
    MiniComfy(stub, object_info=wan_object_info(missing_class="Wan22ImageToVideoLatent"))
    with pytest.raises(MissingResource) as caught:
        stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())
    assert "Wan22ImageToVideoLatent" in caught.value.message and "node 55" in caught.value.message
    assert stub.url in caught.value.message
    assert stub.requests_to("POST", "/prompt") == []


def test_object_info_is_cached_and_looked_at_again_before_blaming_a_model(stub, tmp_path: Path):
    MiniComfy(stub, object_info=wan_object_info(missing_model="wan2.2_vae.safetensors"))
    backend = stub_backend(stub)
    missing_vae = r"wan2\.2_vae\.safetensors in models/vae/ \(input vae_name of VAELoader node 39"
    with pytest.raises(MissingResource, match=missing_vae):
        backend.run(wan_request(tmp_path), Recorder(), threading.Event())
    assert len(stub.requests_to("GET", "/object_info")) == 1
    # The user installs the model: the cached answer says it is missing, so it is fetched again.
    stub.on("GET", "/object_info", (200, wan_object_info(), JSON))
    backend.run(wan_request(tmp_path), Recorder(), threading.Event())
    assert len(stub.requests_to("GET", "/object_info")) == 2
    backend.preflight(backend.templates[WAN])  # fresh enough: no third request
    assert len(stub.requests_to("GET", "/object_info")) == 2


def test_a_choice_the_server_lacks_is_found_before_submitting(stub, tmp_path: Path):
    MiniComfy(stub, object_info=wan_object_info(samplers=("euler", "dpmpp_2m")))
    with pytest.raises(MissingResource) as caught:
        stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())
    assert "does not offer 'uni_pc' for input sampler_name of node 3 (KSampler)" in caught.value.message
    assert "euler, dpmpp_2m" in caught.value.message and "update ComfyUI" in caught.value.hint
    assert stub.requests_to("POST", "/prompt") == []


def test_missing_model_is_found_before_anything_is_submitted(tmp_path: Path):
    models = [
        "diffusion_models/wan2.2_ti2v_5B_fp16.safetensors",
        "text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    ]  # no VAE
    with reference_launch.start_server(tmp_path / "server", models=models) as server:
        with pytest.raises(MissingResource) as caught:
            reference_backend(server).run(wan_request(tmp_path / "out"), Recorder(), threading.Event())
        assert server_json(server, "/queue") == {"queue_running": [], "queue_pending": []}
        assert server_json(server, "/history") == {}
    message = str(caught.value)
    assert f"ComfyUI at {server.url} lacks what template '{WAN}' needs: 1 model file: wan2.2_vae.safetensors" in message
    assert "ComfyUI/models/vae/" in caught.value.hint
    assert not (tmp_path / "out").exists()
