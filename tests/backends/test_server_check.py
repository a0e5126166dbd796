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


def test_refused_credentials_are_their_own_finding_and_accepted_ones_are_named(tmp_path):
    from devservers.wan2gp.launch import start_server as start_wan2gp
    from shotcaller.backends.credentials import Credentials
    from shotcaller.backends.policy import TransportPolicy
    from shotcaller.backends.wan2gp.backend import Wan2GPBackend

    token = "tok-check-4d2e8f1a"
    wrong = TransportPolicy(credentials=Credentials(server="ComfyUI on box", bearer_token="tok-wrong-1234"))
    right = TransportPolicy(credentials=Credentials(server="ComfyUI on box", bearer_token=token))
    with start_server(tmp_path / "c", extra_args=["--require-token", token]) as server:
        refused = check_server(ComfyUIBackend("box", server.url, policy=wrong))
        missing = check_server(ComfyUIBackend("box", server.url))
        accepted = check_server(ComfyUIBackend("box", server.url, policy=right))
    assert refused.refused and not refused.reachable and "not reachable" not in refused.text
    assert "ComfyUI on box refused the credentials (HTTP 403" in refused.text and "check the token" in refused.text
    assert missing.refused and "asks for credentials (HTTP 401" in missing.text
    assert accepted.reachable and "It accepted a bearer token" in accepted.text and "Can run:" in accepted.text
    for found in (refused, missing, accepted):
        assert token not in found.text and "tok-wrong-1234" not in found.text
    with start_wan2gp(tmp_path / "w", extra_args=["--require-header", "X-Gate: g-5e6f7a8b"]) as server:
        wan = check_server(Wan2GPBackend("wan", server.url + "/mcp/"))
    assert wan.refused and "Wan2GP at" in wan.text and "asks for credentials" in wan.text
