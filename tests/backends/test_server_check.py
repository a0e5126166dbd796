"""The preferences' Test button: what checking a real (reference) server finds."""

from stub_servers import refused_url

from devservers.comfyui.launch import start_server
from shotcaller.backends.comfyui.backend import ComfyUIBackend
from shotcaller.backends.server_check import check_server

WAN_5B = [
    "diffusion_models/wan2.2_ti2v_5B_fp16.safetensors",
    "text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    "vae/wan2.2_vae.safetensors",
]


def test_a_server_with_some_models_says_what_it_can_run_and_which_file_is_missing(tmp_path):
    with start_server(tmp_path, models=WAN_5B, vram_gb=24) as server:
        found = check_server(ComfyUIBackend("box", server.url))
    assert found.reachable
    text = found.text
    assert f"reachable at {server.url}" in text
    assert "GB of video memory free" in text and "of 24.0 GB" in text
    assert "Can run: Wan 2.2 TI2V 5B" in text
    assert "Cannot run" in text and "sd_xl_base_1.0.safetensors" in text  # names the missing file


def test_an_unreachable_server_says_why_and_what_to_do():
    url = refused_url()
    found = check_server(ComfyUIBackend("box", url))
    assert not found.reachable
    assert "not reachable" in found.text and "connection refused" in found.text
    assert f"--port {url.rsplit(':', 1)[1]}" in found.text  # the hint names the port actually used
