"""Plain HTTP endpoints of the reference server: stats, catalogue, models, uploads, /view, history."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from PIL import Image

from devservers.comfyui import ReferenceComfyUI
from devservers.comfyui.catalogue import DEFAULT_MODELS, parse_models
from devservers.comfyui.launch import start_server
from devservers.comfyui.testing import Client, image_prompt

RECORDED_MODEL_FOLDERS = [
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "custom_nodes",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    handle = start_server(tmp_path_factory.mktemp("comfyui-http"), preview_method="none")
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url)


def png(color=(255, 0, 0), size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_system_stats_cpu_shape(client):
    body = client.get("/system_stats").json
    assert set(body) == {"system", "devices"}
    assert set(body["system"]) == {
        "os",
        "ram_total",
        "ram_free",
        "comfyui_version",
        "required_frontend_version",
        "installed_templates_version",
        "required_templates_version",
        "python_version",
        "pytorch_version",
        "embedded_python",
        "argv",
    }
    assert body["system"]["comfyui_version"] == "0.3.64"
    (device,) = body["devices"]
    assert set(device) == {"name", "type", "index", "vram_total", "vram_free", "torch_vram_total", "torch_vram_free"}
    assert device["type"] == "cpu" and device["name"] == "cpu" and device["index"] is None
    assert client.get("/api/system_stats").json["devices"][0]["type"] == "cpu"


def test_system_stats_with_vram_and_custom_models(tmp_path):
    models = ["checkpoints/sd15.safetensors", "loras/style.safetensors", "vae/wan2.2_vae.safetensors"]
    with start_server(tmp_path, vram_gb=8, models=models) as handle:
        client = Client(handle.url)
        (device,) = client.get("/system_stats").json["devices"]
        assert device["type"] == "cuda" and device["name"] == "reference"
        assert device["vram_total"] == 8 * 2**30
        assert client.get("/models/checkpoints").json == ["sd15.safetensors"]
        assert client.get("/models/diffusion_models").json == []  # --model replaces the defaults
        info = client.get("/object_info/LoraLoader").json["LoraLoader"]
        assert info["input"]["required"]["lora_name"][0] == ["style.safetensors"]
        info = client.get("/object_info/CheckpointLoaderSimple").json["CheckpointLoaderSimple"]
        assert info["input"]["required"]["ckpt_name"][0] == ["sd15.safetensors"]


def test_features_models_and_small_endpoints(client):
    assert client.get("/features").json == {"supports_preview_metadata": True, "max_upload_size": 104857600}
    assert client.get("/models").json == RECORDED_MODEL_FOLDERS
    assert client.get("/api/models/vae").json == ["ae.safetensors", "wan2.2_vae.safetensors", "wan_2.1_vae.safetensors"]
    assert client.get("/models/not_a_folder").status == 404
    assert client.get("/embeddings").json == []
    assert client.get("/prompt").json == {"exec_info": {"queue_remaining": 0}}
    assert client.get("/queue").json == {"queue_running": [], "queue_pending": []}
    assert client.post_json("/free", {"unload_models": True, "free_memory": True}).body == b""


def test_object_info_catalogue_is_filled(client):
    catalogue = client.get("/object_info").json
    assert len(catalogue) == 496
    defaults = parse_models(DEFAULT_MODELS)
    required = catalogue["UNETLoader"]["input"]["required"]
    assert required["unet_name"][0] == defaults["diffusion_models"]
    assert "wan2.2_ti2v_5B_fp16.safetensors" in required["unet_name"][0]
    assert catalogue["CLIPLoader"]["input"]["required"]["clip_name"][0] == defaults["text_encoders"]
    assert catalogue["DualCLIPLoader"]["input"]["required"]["clip_name2"][0] == defaults["text_encoders"]
    assert catalogue["VAELoader"]["input"]["required"]["vae_name"][0] == [*defaults["vae"], "pixel_space"]
    assert catalogue["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [
        "ace_step_v1_3.5b.safetensors",
        "sd_xl_base_1.0.safetensors",
        "stable-audio-open-1.0.safetensors",
    ]
    assert catalogue["UpscaleModelLoader"]["input"]["required"]["model_name"][1]["options"] == []
    assert catalogue["SaveVideo"]["output_node"] is True
    one = client.get("/api/object_info/VAELoader").json
    assert list(one) == ["VAELoader"] and one["VAELoader"] == catalogue["VAELoader"]
    assert client.get("/object_info/NoSuchNode").json == {}


def test_upload_dedupe_rename_overwrite_and_combo(client, server):
    first = client.upload("blender_upload.png", png((255, 0, 0)))
    assert first.status == 200
    assert first.json == {"name": "blender_upload.png", "subfolder": "", "type": "input"}
    assert client.upload("blender_upload.png", png((255, 0, 0))).json["name"] == "blender_upload.png"
    renamed = client.upload("blender_upload.png", png((0, 255, 0)))
    assert renamed.json == {"name": "blender_upload (1).png", "subfolder": "", "type": "input"}
    assert client.upload("blender_upload.png", png((0, 255, 0))).json["name"] == "blender_upload (1).png"
    overwritten = client.upload("blender_upload.png", png((0, 0, 255)), overwrite="true")
    assert overwritten.json["name"] == "blender_upload.png"
    assert (server.input_dir / "blender_upload.png").read_bytes() == png((0, 0, 255))
    sub = client.upload("blender_upload.png", png(), subfolder="blender")
    assert sub.json == {"name": "blender_upload.png", "subfolder": "blender", "type": "input"}
    temp = client.upload("blender_upload.png", png(), type="temp")
    assert temp.json == {"name": "blender_upload.png", "subfolder": "", "type": "temp"}
    assert client.upload(None, b"", subfolder="x").status == 400  # no image field
    traversal = client.upload("../evil.png", png())
    assert traversal.status == 400 and traversal.body == b""
    assert client.upload("x.png", png(), subfolder="../../etc").status == 400
    combo = client.get("/object_info/LoadImage").json["LoadImage"]["input"]["required"]["image"]
    assert combo == [["blender_upload (1).png", "blender_upload.png"], {"image_upload": True}]


def test_view_files_and_errors(client):
    reply = client.submit(image_prompt(prefix="viewtest/pic"), client_id="http")
    entry = client.wait_history(reply.json["prompt_id"])
    image = entry["outputs"]["2"]["images"][0]
    assert image == {"filename": "pic_00001_.png", "subfolder": "viewtest", "type": "output"}
    view = client.get("/view", **image)
    assert view.status == 200
    assert view.headers["Content-Type"] == "image/png"
    assert view.headers["Content-Disposition"] == 'filename="pic_00001_.png"'
    assert view.body[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(view.body)).size == (64, 48)
    assert json.loads(Image.open(io.BytesIO(view.body)).text["prompt"])["2"]["class_type"] == "SaveImage"
    annotated = client.get("/api/view", filename="pic_00001_.png [output]", subfolder="viewtest")
    assert annotated.status == 200 and annotated.body == view.body
    preview = client.get("/view", preview="webp;50", **image)
    assert preview.status == 200 and preview.headers["Content-Type"] == "image/webp"
    for params, status in [
        ({"filename": "nope.png", "type": "output"}, 404),
        ({"filename": "../../etc/passwd", "type": "output"}, 400),
        ({"filename": "/etc/passwd"}, 400),
        ({}, 404),
        ({"filename": "x.png", "type": "bogus"}, 400),
        ({"filename": "pic_00001_.png", "subfolder": "../.."}, 403),
    ]:
        reply = client.get("/view", **params)
        assert (reply.status, reply.body) == (status, b""), params


def test_history_endpoints(client):
    ids = [client.submit(image_prompt(color=c, prefix="hist"), client_id="http").json["prompt_id"] for c in (1, 2)]
    for prompt_id in ids:
        client.wait_history(prompt_id)
    latest = client.get("/history", max_items=1).json
    assert list(latest) == [ids[-1]]
    assert set(ids) <= set(client.get("/history").json)
    assert client.get("/history/does-not-exist").json == {}
    reply = client.post_json("/history", {"delete": [ids[0]]})
    assert (reply.status, reply.body) == (200, b"")
    assert client.get(f"/history/{ids[0]}").json == {}
    assert client.post_json("/api/history", {"clear": True}).status == 200
    assert client.get("/history").json == {}


def test_png_carries_prompt_and_extra_pnginfo(client, server):
    reply = client.submit(
        image_prompt(prefix="meta"), client_id="http", extra_data={"extra_pnginfo": {"workflow": {"from": "blender"}}}
    )
    entry = client.wait_history(reply.json["prompt_id"])
    assert entry["prompt"][3] == {"extra_pnginfo": {"workflow": {"from": "blender"}}, "client_id": "http"}
    path = server.output_dir / entry["outputs"]["2"]["images"][0]["filename"]
    data = path.read_bytes()
    chunks = {}
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"tEXt":
            key, _, value = data[offset + 8 : offset + 8 + length].partition(b"\0")
            chunks[key.decode()] = json.loads(value)
        assert (
            zlib.crc32(data[offset + 4 : offset + 8 + length])
            == struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])[0]
        )
        offset += 12 + length
    assert chunks["workflow"] == {"from": "blender"}
    assert chunks["prompt"]["1"]["class_type"] == "EmptyImage"


def test_origin_guard_and_remote_refusal(client, tmp_path):
    host = client.url.split("//")[1]
    ok = client.request("GET", "/prompt", headers={"Origin": f"http://{host}"})
    assert ok.status == 200
    blocked = client.request("GET", "/prompt", headers={"Origin": "http://evil.example"})
    assert blocked.status == 403
    with pytest.raises(RuntimeError, match="non-loopback"):
        start_server(tmp_path, extra_args=["--host", "0.0.0.0"])


def test_fail_next_endpoint_validates(client):
    bad = client.post_json("/reference/fail-next", {"mode": "explode"})
    assert bad.status == 400
    assert client.post_json("/reference/fail-next", {"mode": "oom"}).json == {"fail_next": ["oom"]}
    assert client.post_json("/reference/fail-next", {"mode": "none"}).json == {"fail_next": []}
    assert client.get("/reference/fail-next").json == {"fail_next": []}


def test_in_thread_api(tmp_path):
    with ReferenceComfyUI(
        port=0,
        output_dir=str(tmp_path / "o"),
        input_dir=str(tmp_path / "i"),
        temp_dir=str(tmp_path / "t"),
        models=[],
        step_seconds=0,
    ) as server:
        client = Client(server.url)
        assert client.get("/models/vae").json == []
        entry = client.wait_history(client.submit(image_prompt(prefix="thread")).json["prompt_id"])
        assert (tmp_path / "o" / entry["outputs"]["2"]["images"][0]["filename"]).is_file()
    with pytest.raises(ValueError, match="non-loopback"):
        ReferenceComfyUI(host="0.0.0.0")
