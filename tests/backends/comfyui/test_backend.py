"""ComfyUIBackend end to end over loopback.

The first part drives the backend against a scripted stub (for server behaviour that
must be exact: hostile file names, history lagging behind events, a missing websocket).
The second part runs it against the reference ComfyUI server in devservers/comfyui.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shotcaller.backends.base import (
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
from shotcaller.backends.comfyui import ComfyUIBackend
from shotcaller.backends.comfyui.outputs import media_for_file, output_files, safe_extension
from shotcaller.backends.comfyui.templates import BUNDLED_TEMPLATE_DIR
from shotcaller.backends.policy import TransportPolicy
from shotcaller.backends.server_job import JobTimedOut
from shotcaller.shots import MediaKind, Quality, make_spec

WAN = "wan22_ti2v_5b_t2v"
WAN_MODELS = {
    "UNETLoader": ("unet_name", "wan2.2_ti2v_5B_fp16.safetensors"),
    "CLIPLoader": ("clip_name", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"),
    "VAELoader": ("vae_name", "wan2.2_vae.safetensors"),
}
WAN_CLASSES = [
    "UNETLoader",
    "CLIPLoader",
    "VAELoader",
    "ModelSamplingSD3",
    "CLIPTextEncode",
    "Wan22ImageToVideoLatent",
    "KSampler",
    "VAEDecode",
    "CreateVideo",
    "SaveVideo",
]
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + b"preview"
JSON = "application/json"
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"  # what the media check looks for
PNG_HEAD = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000400000003008020000")


def media_bytes(filename: str) -> bytes:
    """A file's start as the media check wants to see it, then its name (for the tests to find)."""
    head = PNG_HEAD if filename.lower().endswith(".png") else MP4_HEAD
    return head + filename.encode()


def wan_request(output_dir: Path, **fields: Any) -> GenerationRequest:
    values = {
        "shot_id": "f" * 32,
        "label": "Lighthouse",
        "prompt": "a lighthouse at dusk, waves",
        "width": 64,
        "height": 64,
        "frame_count": 9,
        "fps": 16.0,
        "seed": 42,
    }
    values.update(fields)
    offer = Offer(name=WAN, media=MediaKind.VIDEO, quality=Quality.DRAFT)
    return GenerationRequest(
        spec=make_spec(**values), offer=offer, output_dir=str(output_dir), file_stem="sh010_take01"
    )


class Recorder:
    def __init__(self) -> None:
        self.updates: list[Progress] = []

    def __call__(self, progress: Progress) -> None:
        self.updates.append(progress)

    @property
    def fractions(self) -> list[float]:
        return [p.fraction for p in self.updates]


# --- a scripted mini ComfyUI on the stub --------------------------------------------------


def wan_object_info(
    *,
    missing_model: str | None = None,
    missing_class: str | None = None,
    samplers: tuple[str, ...] = ("euler", "uni_pc"),
) -> dict:
    info: dict[str, Any] = {cls: {"input": {"required": {}}} for cls in WAN_CLASSES if cls != missing_class}
    for cls, (input_name, filename) in WAN_MODELS.items():
        files = [] if filename == missing_model else [filename]
        if cls in info:
            info[cls]["input"]["required"][input_name] = [["other.safetensors", *files]]
    info["SaveVideo"]["input"]["required"]["format"] = ["COMBO", {"options": ["auto", "mp4"]}]
    info["KSampler"]["input"]["required"]["sampler_name"] = [list(samplers)]
    return info


class MiniComfy:
    """Scripts one job on the stub: prompt -> websocket events -> history -> /view."""

    def __init__(
        self,
        stub,
        *,
        outputs: dict | None = None,
        history_lag: int = 0,
        websocket: bool = True,
        events: list[dict] | None = None,
        object_info: dict | None = None,
    ) -> None:
        self.stub = stub
        self.prompt_id = ""
        self.prompt: dict = {}
        self.submitted = threading.Event()
        self.history_polls = 0
        self.history_lag = history_lag
        self.finished = False
        self.outputs = (
            outputs
            if outputs is not None
            else {
                "58": {
                    "images": [{"filename": "ComfyUI_00001_.mp4", "subfolder": "video", "type": "output"}],
                    "animated": [True],
                }
            }
        )
        stub.on("GET", "/object_info", (200, object_info or wan_object_info(), JSON))
        stub.on("POST", "/prompt", self._prompt)
        stub.on("GET", "/history/*", self._history)
        stub.on("GET", "/queue", self._queue)
        stub.on("GET", "/view", lambda request: (200, media_bytes(request.query["filename"]), "video/mp4"))
        stub.on("POST", "/interrupt", (200, b"", "text/plain"))
        stub.on("POST", "/queue", (200, b"", "text/plain"))
        if not websocket:
            stub.on("GET", "/ws", (404, b"", "text/plain"))
        script: list[tuple[str, Any]] = [("receive", None), ("wait_for", self.submitted)]
        for message in events if events is not None else self.success_events():
            if "binary" in message:
                script.append(("binary", message["binary"]))
            elif "preview4" in message:  # a preview with metadata naming the prompt (binary type 4)
                script.append(("binary", self._preview4(message["preview4"], message.get("image_type", "image/png"))))
            else:
                script.append(("text", self._with_id(message)))
        stub.ws_script = script

    def success_events(self) -> list[dict]:
        return [
            {"type": "execution_start", "data": {}},
            {"type": "execution_cached", "data": {"nodes": ["37", "38", "39"]}},
            {"type": "progress_state", "data": {"nodes": {"48": {"value": 0, "max": 1, "state": "running"}}}},
            {"type": "executing", "data": {"node": "48"}},
            {"type": "executing", "data": {"node": "3"}},
            {"type": "progress", "data": {"value": 1, "max": 4, "node": "3"}},
            {"binary": (1).to_bytes(4, "big") + (2).to_bytes(4, "big") + PNG},
            {"type": "progress", "data": {"value": 2, "max": 4, "node": "3"}},
            {"type": "progress", "data": {"value": 4, "max": 4, "node": "3"}},
            {
                "type": "progress_state",
                "data": {
                    "nodes": {n: {"value": 1, "max": 1, "state": "finished"} for n in ["6", "7", "55", "8", "57", "58"]}
                },
            },
            {"type": "execution_success", "data": {}},
            {"type": "executing", "data": {"node": None}},
        ]

    def _preview4(self, image: bytes, image_type: str):
        def build() -> bytes:
            metadata = json.dumps(
                {
                    "node_id": "3",
                    "prompt_id": self.prompt_id,
                    "display_node_id": "3",
                    "parent_node_id": None,
                    "real_node_id": "3",
                    "image_type": image_type,
                }
            ).encode()
            return (4).to_bytes(4, "big") + len(metadata).to_bytes(4, "big") + metadata + image

        return build

    def _with_id(self, message: dict):
        def build() -> dict:
            if message["type"] == "execution_success":
                self.finished = True
            return {"type": message["type"], "data": {**message["data"], "prompt_id": self.prompt_id}}

        return build

    def _prompt(self, request):
        async def answer():
            body = json.loads(await request.read())
            self.prompt, self.prompt_id = body["prompt"], body["prompt_id"]
            self.stub.requests.append(("POST", "/prompt", b""))
            self.submitted.set()
            return (200, {"prompt_id": self.prompt_id, "number": 1, "node_errors": {}}, JSON)

        return answer()

    def _history(self, request):
        if not self.prompt_id or not request.path.endswith(self.prompt_id):
            return (200, {}, JSON)
        self.history_polls += 1
        if self.history_polls <= self.history_lag:
            return (200, {}, JSON)
        entry = {"outputs": self.outputs, "status": {"status_str": "success", "completed": True, "messages": []}}
        return (200, {self.prompt_id: entry}, JSON)

    def _queue(self, request):
        running = [[1, self.prompt_id, {}, {}, ["58"]]] if self.prompt_id else []
        return (200, {"queue_running": running, "queue_pending": []}, JSON)


def stub_backend(stub, **options: Any) -> ComfyUIBackend:
    options.setdefault("poll_interval", 0.05)
    return ComfyUIBackend("stub", stub.url, [BUNDLED_TEMPLATE_DIR], timeout=5, **options)


def test_offers_come_from_templates_without_network(refused_url: str, tmp_path: Path):
    backend = ComfyUIBackend("local", refused_url, [BUNDLED_TEMPLATE_DIR, str(tmp_path / "missing")])
    [offer] = [o for o in backend.offers() if o.name == WAN]
    assert (offer.media, offer.quality, offer.model, offer.vram_gb) == (
        MediaKind.VIDEO,
        Quality.DRAFT,
        "Wan 2.2 TI2V 5B",
        8.0,
    )
    assert [os.path.basename(e.path) for e in backend.template_errors] == ["missing"]


def test_run_on_stub_reports_even_progress_previews_and_downloads(stub, tmp_path: Path):
    comfy = MiniComfy(stub)
    report = Recorder()
    result = stub_backend(stub).run(wan_request(tmp_path), report, threading.Event())
    assert result.files == (str(tmp_path / "sh010_take01.mp4"),)
    assert Path(result.files[0]).read_bytes() == MP4_HEAD + b"ComfyUI_00001_.mp4"
    assert result.server_job_id == comfy.prompt_id
    assert result.model == "Wan 2.2 TI2V 5B"
    assert result.parameters["template"] == WAN and result.parameters["server_url"] == stub.url
    assert result.parameters["frame_count"] == 9
    assert comfy.prompt["58"]["inputs"]["filename_prefix"] == "shotcaller/sh010_take01"
    fractions = report.fractions
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert report.updates[-1].message == "downloaded"
    assert any(p.preview_image == PNG for p in report.updates)
    # Sampler steps move the bar: three cached loaders, then node 3 at 1/4, 2/4, 4/4 of its share.
    firsts = {p.message: p for p in reversed(report.updates)}  # the first update of each message
    step_messages = sorted((p for m, p in firsts.items() if "step" in m), key=report.updates.index)
    assert [p.message.split()[-1] for p in step_messages] == ["1/4", "2/4", "4/4"]
    assert step_messages[0].fraction < step_messages[1].fraction < step_messages[2].fraction


def test_history_lagging_behind_execution_success_is_waited_for(stub, tmp_path: Path):
    comfy = MiniComfy(stub, history_lag=3)
    result = stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())
    assert len(result.files) == 1
    assert comfy.history_polls == 4


def test_without_websocket_the_job_is_followed_by_polling(stub, tmp_path: Path):
    comfy = MiniComfy(stub, websocket=False, history_lag=4)
    report = Recorder()
    result = stub_backend(stub).run(wan_request(tmp_path), report, threading.Event())
    assert len(result.files) == 1 and os.listdir(tmp_path) == ["sh010_take01.mp4"]
    assert comfy.history_polls >= 5
    assert report.fractions[-1] == 1.0


def test_hostile_server_file_names_never_leave_the_output_folder(stub, tmp_path: Path):
    outputs = {
        "58": {
            "images": [
                {"filename": "../../etc/passwd", "subfolder": "../../..", "type": "output"},
                {"filename": "..\\..\\evil.MP4", "subfolder": "", "type": "output"},
                {"filename": "clip.mp4/../../../x.sh", "subfolder": "/abs", "type": "output"},
            ],
            "animated": [True],
        }
    }
    MiniComfy(stub, outputs=outputs)
    out = tmp_path / "takes"
    result = stub_backend(stub).run(wan_request(out), Recorder(), threading.Event())
    assert [os.path.basename(f) for f in result.files] == [
        "sh010_take01_01.mp4",
        "sh010_take01_02.bin",
        "sh010_take01_03.sh",
    ]
    assert sorted(os.listdir(out)) == sorted(os.path.basename(f) for f in result.files)
    assert sorted(os.listdir(tmp_path)) == ["takes"]  # nothing written beside it


def test_existing_files_are_not_overwritten(stub, tmp_path: Path):
    MiniComfy(stub)
    (tmp_path / "sh010_take01.mp4").write_bytes(b"an earlier take")
    result = stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())
    assert result.files == (str(tmp_path / "sh010_take01-2.mp4"),)
    assert (tmp_path / "sh010_take01.mp4").read_bytes() == b"an earlier take"


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


def test_cancel_while_pending_deletes_from_the_queue_and_never_interrupts(stub, tmp_path: Path):
    comfy = MiniComfy(stub, events=[])
    stub.on(
        "GET",
        "/queue",
        lambda request: (
            200,
            {"queue_running": [[0, "someone-else", {}, {}, []]], "queue_pending": [[1, comfy.prompt_id, {}, {}, []]]},
            JSON,
        ),
    )
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(Cancelled):
        stub_backend(stub).run(wan_request(tmp_path), Recorder(), cancel)
    assert [json.loads(b) for b in stub.requests_to("POST", "/queue")] == [{"delete": [comfy.prompt_id]}]
    assert stub.requests_to("POST", "/interrupt") == []


def test_job_that_vanished_from_queue_and_history_is_reported(stub, tmp_path: Path):
    MiniComfy(stub, websocket=False, history_lag=10**6)
    stub.on("GET", "/queue", (200, {"queue_running": [], "queue_pending": []}, JSON))
    with pytest.raises(Cancelled, match="no longer has the job"):
        stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())


def invert_template(directory: Path) -> str:
    """An image-to-image template: LoadImage -> ImageInvert -> SaveImage."""
    directory.mkdir(parents=True, exist_ok=True)
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }
    binding = {
        "name": "invert",
        "workflow": "invert.json",
        "media": "image",
        "quality": "draft",
        "inputs": {
            "init_image": [{"node": "1", "input": "image"}],
            "filename_prefix": [{"node": "3", "input": "filename_prefix"}],
        },
    }
    (directory / "invert.json").write_text(json.dumps(workflow))
    (directory / "invert.binding.json").write_text(json.dumps(binding))
    return str(directory)


def image_request(output_dir: Path, **fields: Any) -> GenerationRequest:
    request = wan_request(output_dir, **fields)
    return GenerationRequest(
        spec=request.spec,
        offer=Offer(name="invert", media=MediaKind.IMAGE, quality=Quality.DRAFT),
        output_dir=str(output_dir),
        file_stem="still",
    )


def test_init_image_is_uploaded_and_bound(stub, tmp_path: Path):
    info = {cls: {"input": {"required": {}}} for cls in ("LoadImage", "ImageInvert", "SaveImage")}
    comfy = MiniComfy(
        stub,
        object_info=info,
        outputs={"3": {"images": [{"filename": "still_00001_.png", "subfolder": "shotcaller", "type": "output"}]}},
    )
    stub.on("POST", "/upload/image", (200, {"name": "frame.png", "subfolder": "shotcaller", "type": "input"}, JSON))
    frame = tmp_path / "frame.png"
    frame.write_bytes(PNG)
    backend = ComfyUIBackend("stub", stub.url, [invert_template(tmp_path / "templates")], poll_interval=0.05)
    result = backend.run(image_request(tmp_path / "out", init_image=str(frame)), Recorder(), threading.Event())
    assert comfy.prompt["1"]["inputs"]["image"] == "shotcaller/frame.png"
    assert result.parameters["init_image"] == "shotcaller/frame.png"
    assert [os.path.basename(f) for f in result.files] == ["still.png"]


def test_unknown_template_and_missing_init_image_are_invalid_requests(refused_url: str, tmp_path: Path):
    backend = ComfyUIBackend("local", refused_url, [BUNDLED_TEMPLATE_DIR, invert_template(tmp_path / "t")])
    request = wan_request(tmp_path)
    unknown = GenerationRequest(
        spec=request.spec,
        offer=Offer(name="nope", media=MediaKind.VIDEO, quality=Quality.DRAFT),
        output_dir=str(tmp_path),
        file_stem="x",
    )
    with pytest.raises(InvalidRequest, match="no template 'nope'"):
        backend.run(unknown, Recorder(), threading.Event())
    with pytest.raises(InvalidRequest, match="starts from an image and shot 'Lighthouse' has none"):
        backend.run(image_request(tmp_path), Recorder(), threading.Event())


def test_connection_refused_is_unreachable_with_the_url(refused_url: str, tmp_path: Path):
    backend = ComfyUIBackend("local", refused_url, [BUNDLED_TEMPLATE_DIR], timeout=2)
    with pytest.raises(BackendUnreachable) as caught:
        backend.run(wan_request(tmp_path), Recorder(), threading.Event())
    assert refused_url in str(caught.value)


def test_probe_summarises_system_stats(stub):
    stub.on(
        "GET",
        "/system_stats",
        (
            200,
            {
                "system": {
                    "os": "posix",
                    "ram_total": 25276063744,
                    "ram_free": 23664689152,
                    "comfyui_version": "0.3.64",
                },
                "devices": [
                    {
                        "name": "cuda:0 NVIDIA GeForce RTX 4090",
                        "type": "cuda",
                        "index": 0,
                        "vram_total": 25757220864,
                        "vram_free": 24000000000,
                    },
                    {"name": "cuda:1", "type": "cuda", "index": 1, "vram_total": 1, "vram_free": 1},
                ],
            },
            JSON,
        ),
    )
    stub.on(
        "GET",
        "/queue",
        (
            200,
            {
                "queue_running": [[3, "a", {}, {}, ["9"]]],
                "queue_pending": [[4, "b", {}, {}, ["9"]], [-5, "c", {}, {}, ["9"]]],
            },
            JSON,
        ),
    )
    probe = stub_backend(stub).probe()
    assert (probe.version, probe.device_type, probe.vram_total, probe.vram_free) == (
        "0.3.64",
        "cuda",
        25757220864,
        24000000000,
    )  # the primary device is the first listed
    assert probe.url == stub.url and probe.ram_total == 25276063744
    assert (probe.queue_running, probe.queue_pending, probe.queue_length) == (1, 2, 3)


def test_output_selection_prefers_saved_files_of_the_templates_media():
    entry = {
        "outputs": {
            "9": {"images": [{"filename": "preview.png", "subfolder": "", "type": "temp"}]},
            "10": {"images": [{"filename": "still.png", "subfolder": "", "type": "output"}]},
            "58": {"images": [{"filename": "clip.webp", "subfolder": "", "type": "output"}], "animated": [True]},
            "60": {"audio": [{"filename": "sound.flac", "subfolder": "audio", "type": "output"}]},
            "61": {"text": ["not a file"]},
        }
    }
    assert [r["filename"] for r in output_files(entry, MediaKind.VIDEO)] == ["clip.webp", "still.png", "sound.flac"]
    assert next(r["filename"] for r in output_files(entry, MediaKind.MUSIC)) == "sound.flac"
    only_temp = {"outputs": {"9": {"images": [{"filename": "p.png", "type": "temp"}]}}}
    assert [r["filename"] for r in output_files(only_temp, MediaKind.IMAGE)] == ["p.png"]
    assert media_for_file("a.webm") is MediaKind.VIDEO and media_for_file("a.webp") is MediaKind.IMAGE
    assert media_for_file("a.webp", animated=True) is MediaKind.VIDEO
    assert (safe_extension("x.MP4"), safe_extension("passwd"), safe_extension("a.verylongextension")) == (
        ".mp4",
        ".bin",
        ".bin",
    )


def test_offers_carry_vram_init_image_and_frame_limits(refused_url: str):
    offers = ComfyUIBackend("local", refused_url).offers()  # bundled templates, no network
    by_name = {o.name: o for o in offers}
    assert set(by_name) == {
        WAN,
        "wan22_ti2v_5b_i2v",
        "wan22_14b_t2v",
        "wan22_14b_i2v",
        "sdxl_base_t2i",
        "flux1_dev_t2i",
        "stable_audio_open_t2a",
        "ace_step_v1_t2m",
    }
    # Templates that start from an init image come first: with equal scores the router keeps this
    # order, so a shot with an init image uses it (its init-image filter keeps the others off them).
    needs = [o.needs_init_image for o in offers]
    assert needs == sorted(needs, reverse=True) and needs.count(True) == 2
    wan = by_name[WAN]
    assert (wan.vram_gb, wan.vram_base_gb, wan.vram_per_megapixel_frame_gb, wan.max_frames) == (8.0, 8.0, 0.02, 121)
    assert wan.estimate_vram_gb(1280, 704, 121) == pytest.approx(8.0 + 0.02 * 0.90112 * 121)
    assert by_name["wan22_14b_i2v"].needs_init_image and by_name["wan22_14b_i2v"].quality is Quality.FINAL
    assert by_name["flux1_dev_t2i"].estimate_vram_gb(1024, 1024, 1) == pytest.approx(18.0 + 2.0 * 1.048576)
    sound = by_name["stable_audio_open_t2a"]
    assert (sound.media, sound.max_frames, sound.estimate_vram_gb(1920, 1080, 240)) == (MediaKind.AUDIO, 0, 5.0)
    assert by_name["ace_step_v1_t2m"].media is MediaKind.MUSIC
    # An Offer built by hand (other backends) still estimates from vram_gb alone.
    assert Offer("x", MediaKind.IMAGE, Quality.DRAFT, vram_gb=4.0).estimate_vram_gb(4000, 4000, 100) == 4.0


def test_broken_templates_are_sentences_for_the_ui_and_leave_the_rest(refused_url: str, tmp_path: Path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / f"{WAN}.binding.json").write_text('{"name": "wan22_ti2v_5b_t2v", "workflow": "nope.json"}')
    (user / "nope.json").write_text("{}")
    backend = ComfyUIBackend("local", refused_url, [BUNDLED_TEMPLATE_DIR, str(user)])
    [problem] = backend.template_problems
    assert str(user / f"{WAN}.binding.json") in problem and "media" in problem and "quality" in problem
    assert WAN in backend.templates and len(backend.offers()) == 8  # the bundled one still serves


def test_too_long_shots_are_refused_before_anything_is_sent(refused_url: str, tmp_path: Path):
    backend = ComfyUIBackend("local", refused_url)  # a request would fail as unreachable
    too_long = r"at most 7\.6 s \(121 frames at 16 fps\) and shot 'Lighthouse' lasts 12\.5 s \(200 frames\)"
    with pytest.raises(InvalidRequest, match=too_long) as caught:
        backend.run(wan_request(tmp_path, frame_count=200), Recorder(), threading.Event())
    assert "split" in caught.value.hint
    sound = GenerationRequest(
        spec=make_spec(shot_id="a" * 32, prompt="rain", media=MediaKind.AUDIO, frame_count=60 * 24, fps=24.0),
        offer=Offer("stable_audio_open_t2a", MediaKind.AUDIO, Quality.DRAFT),
        output_dir=str(tmp_path),
        file_stem="rain",
    )
    with pytest.raises(InvalidRequest, match=r"at most 47\.0 s and shot '.*' lasts 60\.0 s"):
        backend.run(sound, Recorder(), threading.Event())


def test_a_choice_the_server_lacks_is_found_before_submitting(stub, tmp_path: Path):
    MiniComfy(stub, object_info=wan_object_info(samplers=("euler", "dpmpp_2m")))
    with pytest.raises(MissingResource) as caught:
        stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())
    assert "does not offer 'uni_pc' for input sampler_name of node 3 (KSampler)" in caught.value.message
    assert "euler, dpmpp_2m" in caught.value.message and "update ComfyUI" in caught.value.hint
    assert stub.requests_to("POST", "/prompt") == []


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


def test_a_take_without_a_file_of_the_templates_media_is_a_protocol_error(stub, tmp_path: Path):
    from shotcaller.backends.base import ProtocolError

    MiniComfy(stub, outputs={"9": {"images": [{"filename": "still_00001_.png", "subfolder": "", "type": "output"}]}})
    with pytest.raises(ProtocolError, match=r"without a video file \(it saved still_00001_\.png\)"):
        stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())
    assert os.listdir(tmp_path) == []


def test_progress_weights_count_sampler_steps(refused_url: str):
    from shotcaller.backends.comfyui.progress import NodeProgress, expected_weights

    templates = ComfyUIBackend("local", refused_url).templates
    heavy = {
        name: {n: w for n, w in expected_weights(t.workflow_copy()).items() if w > 1} for name, t in templates.items()
    }
    assert heavy == {
        WAN: {"3": 20},
        "wan22_ti2v_5b_i2v": {"3": 20},
        "sdxl_base_t2i": {"3": 20},
        "wan22_14b_t2v": {"57": 10, "58": 10},
        "wan22_14b_i2v": {"57": 10, "58": 10},
        "flux1_dev_t2i": {"13": 20},  # SamplerCustomAdvanced: the steps of its BasicScheduler
        "stable_audio_open_t2a": {"3": 50},
        "ace_step_v1_t2m": {"52": 50},
    }
    template = templates[WAN]
    tracker = NodeProgress(template.node_classes, expected_weights(template.workflow_copy()))
    others = len(template.node_classes) - 1  # 10 one-unit nodes around a 20-step sampler
    tracker.cached(n for n in template.node_classes if n not in ("3", "8", "57", "58"))
    before = tracker.fraction
    tracker.step("3", 1, 20)
    assert tracker.fraction - before == pytest.approx(1 / (others + 20))  # one step is one unit
    tracker.step("3", 20, 20)
    tracker.state({"8": {"state": "finished"}, "57": {"state": "finished"}, "58": {"state": "finished"}})
    assert tracker.fraction == pytest.approx(1.0)
    # A node that reports more steps than expected counts them from then on.
    unknown = NodeProgress({"1": "MyCustomSampler", "2": "SaveImage"})
    unknown.step("1", 5, 10)
    assert unknown.weight("1") == 10 and unknown.fraction == pytest.approx(5 / 11)


# --- against the reference ComfyUI server --------------------------------------------------

reference_launch = pytest.importorskip("devservers.comfyui.launch")


def server_json(server, path: str) -> Any:
    with urllib.request.urlopen(server.url + path, timeout=10) as response:
        return json.loads(response.read())


def reference_backend(server, **options: Any) -> ComfyUIBackend:
    options.setdefault("poll_interval", 0.1)
    return ComfyUIBackend("reference", server.url, [BUNDLED_TEMPLATE_DIR], timeout=10, **options)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One reference server for the tests that leave no state the others depend on."""
    with reference_launch.start_server(tmp_path_factory.mktemp("comfyui"), step_seconds=0.01) as server:
        yield server


def single_history_entry(server, timeout: float = 10.0) -> tuple[str, dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = server_json(server, "/history")
        if history:
            [(prompt_id, entry)] = history.items()
            if entry.get("status"):
                return prompt_id, entry
        time.sleep(0.05)
    raise AssertionError("the reference server recorded no finished prompt")


def test_full_wan_run_on_the_reference_server(reference, tmp_path: Path):
    av = pytest.importorskip("av")
    report = Recorder()
    started = time.monotonic()
    result = reference_backend(reference).run(wan_request(tmp_path), report, threading.Event())
    elapsed = time.monotonic() - started
    assert elapsed < 10
    [path] = result.files
    assert path == str(tmp_path / "sh010_take01.mp4")
    with av.open(path) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 9 and (frames[0].width, frames[0].height) == (64, 64)
    fractions = report.fractions
    assert fractions == sorted(fractions), "progress went backwards"
    assert fractions[-1] == 1.0 and report.updates[-1].message == "downloaded"
    assert any(p.preview_image and p.preview_image.startswith(b"\x89PNG") for p in report.updates)
    assert len({round(f, 2) for f in fractions}) > 10  # the bar moves in many small steps, not one jump
    entry = server_json(reference, f"/history/{result.server_job_id}")[result.server_job_id]
    assert entry["status"]["status_str"] == "success"
    assert result.parameters["server_url"] == reference.url


def test_snapped_values_reach_the_reference_server(reference, tmp_path: Path):
    av = pytest.importorskip("av")
    request = wan_request(tmp_path, width=70, height=50, frame_count=10, seed=99)
    result = reference_backend(reference).run(request, Recorder(), threading.Event())
    assert (result.parameters["width"], result.parameters["height"], result.parameters["frame_count"]) == (64, 64, 13)
    with av.open(result.files[0]) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 13  # never shorter than the 10 frames of the shot


def test_out_of_memory_and_node_errors_on_the_reference_server(reference, tmp_path: Path):
    from shotcaller.backends.base import ProtocolError

    backend = reference_backend(reference)
    reference.fail_next("oom")
    with pytest.raises(OutOfMemory, match="out of memory"):
        backend.run(wan_request(tmp_path, seed=1001), Recorder(), threading.Event())
    reference.fail_next("error")
    with pytest.raises(ProtocolError, match="Simulated runtime error"):
        backend.run(wan_request(tmp_path, seed=1002), Recorder(), threading.Event())
    assert os.listdir(tmp_path) == []


def test_websocket_drop_completes_by_polling_history(reference, tmp_path: Path, caplog):
    caplog.set_level(logging.INFO, logger="shotcaller.backends.comfyui.following")
    prompts_before = len(server_json(reference, "/history"))
    reference.fail_next("drop-ws")
    report = Recorder()
    result = reference_backend(reference).run(wan_request(tmp_path, seed=2001), report, threading.Event())
    assert "dropped" in caplog.text  # the socket really went away mid-job
    assert len(result.files) == 1
    assert os.listdir(tmp_path) == ["sh010_take01.mp4"]
    assert len(server_json(reference, "/history")) == prompts_before + 1  # submitted once, not again
    assert report.fractions[-1] == 1.0 and report.fractions == sorted(report.fractions)


def test_concurrent_runs_share_one_backend(reference, tmp_path: Path):
    backend = reference_backend(reference, max_concurrent=2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            request = wan_request(tmp_path / str(index), seed=3000 + index)
            results.append(backend.run(request, Recorder(), threading.Event()))
        except BaseException as exc:  # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len({r.server_job_id for r in results}) == 3
    assert all(len(r.files) == 1 for r in results)


def test_probe_reports_the_reference_servers_device(tmp_path: Path):
    with reference_launch.start_server(tmp_path, vram_gb=8) as server:
        probe = reference_backend(server).probe()
    assert probe.device_type == "cuda" and probe.vram_total == 8 * 2**30
    assert probe.version and probe.url == server.url


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


def test_cancel_while_running_interrupts_the_prompt(tmp_path: Path):
    with reference_launch.start_server(tmp_path / "server", step_seconds=0.1) as server:
        cancel = threading.Event()
        cancelled_at: list[float] = []

        def watch(progress: Progress) -> None:
            if "step 2/" in progress.message and not cancel.is_set():
                cancelled_at.append(time.monotonic())
                cancel.set()

        with pytest.raises(Cancelled):
            reference_backend(server).run(wan_request(tmp_path / "out", seed=4001), watch, cancel)
        cancel_latency = time.monotonic() - cancelled_at[0]
        _, entry = single_history_entry(server)
        assert entry["status"]["status_str"] == "error"
        assert [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"
        assert server_json(server, "/queue") == {"queue_running": [], "queue_pending": []}
    assert cancel_latency < 1.0  # the remaining 18 steps of 0.1 s would take 1.8 s
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_cancel_while_queued_removes_it_from_the_queue(tmp_path: Path):
    with reference_launch.start_server(tmp_path / "server", step_seconds=0.05) as server:
        blocker = threading.Thread(
            target=lambda: reference_backend(server).run(
                wan_request(tmp_path / "first", seed=5001), Recorder(), threading.Event()
            )
        )
        blocker.start()
        cancel = threading.Event()

        def cancel_once_queued(progress: Progress) -> None:
            if progress.message == "queued on ComfyUI":
                cancel.set()

        time.sleep(0.3)  # the first prompt is running
        with pytest.raises(Cancelled):
            reference_backend(server).run(wan_request(tmp_path / "second", seed=5002), cancel_once_queued, cancel)
        queue = server_json(server, "/queue")
        assert queue["queue_pending"] == []
        blocker.join(30)
        history = server_json(server, "/history")
    assert [e["status"]["status_str"] for e in history.values()] == ["success"]  # the first was not interrupted


# --- every media kind on the reference server ------------------------------------------------


def shot_request(
    output_dir: Path,
    template: str,
    media: MediaKind,
    quality: Quality = Quality.DRAFT,
    stem: str | None = None,
    **fields: Any,
) -> GenerationRequest:
    values = {
        "shot_id": "e" * 32,
        "label": "Harbour",
        "prompt": "a harbour at dawn, gulls",
        "media": media,
        "quality": quality,
        "width": 64,
        "height": 48,
        "frame_count": 9,
        "fps": 16.0,
        "seed": 42,
    }
    values.update(fields)
    return GenerationRequest(
        spec=make_spec(**values),
        offer=Offer(template, media, quality),
        output_dir=str(output_dir),
        file_stem=stem or template,
    )


def solid_png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Path:
    from PIL import Image

    Image.new("RGB", size, colour).save(path)
    return path


def step_fractions(report: Recorder, node: str) -> list[float]:
    """The bar's value when each sampler step of one node was first reported, in order."""
    first: dict[str, float] = {}
    for update in report.updates:
        if f"(node {node}) step" in update.message:
            first.setdefault(update.message, update.fraction)
    return list(first.values())


@pytest.mark.parametrize(
    ("template", "quality", "sampler"), [("sdxl_base_t2i", Quality.DRAFT, "3"), ("flux1_dev_t2i", Quality.FINAL, "13")]
)
def test_image_takes_on_the_reference_server(reference, tmp_path: Path, template, quality, sampler):
    from PIL import Image

    from devservers.comfyui.media import seed_colour

    report = Recorder()
    request = shot_request(tmp_path, template, MediaKind.IMAGE, quality, width=100, height=60, seed=7)
    result = reference_backend(reference).run(request, report, threading.Event())
    [path] = result.files
    assert path == str(tmp_path / f"{template}.png")
    with Image.open(path) as image:
        # 100 x 60 snapped: to multiples of 8 for SDXL, of 16 for FLUX (halves round up).
        size = (104, 64) if template == "sdxl_base_t2i" else (96, 64)
        assert image.format == "PNG" and image.size == size
        pixels = image.convert("RGB")
        corner = pixels.getpixel((image.width - 2, 1))
        assert max(abs(a - b) for a, b in zip(corner, seed_colour(7), strict=True)) < 8
        assert len(np.unique(np.asarray(pixels).reshape(-1, 3), axis=0)) > 20  # the prompt is written on it
    assert len(step_fractions(report, sampler)) == 20  # SamplerCustomAdvanced reports its 20 steps too
    assert (result.parameters["width"], result.parameters["height"]) == size
    assert any(p.preview_image for p in report.updates)


def test_final_video_progress_moves_evenly_through_both_samplers(reference, tmp_path: Path):
    av = pytest.importorskip("av")
    report = Recorder()
    request = shot_request(tmp_path, "wan22_14b_t2v", MediaKind.VIDEO, Quality.FINAL, seed=11)
    result = reference_backend(reference).run(request, report, threading.Event())
    with av.open(result.files[0]) as container:
        assert sum(1 for _ in container.decode(video=0)) == 9
    high, low = step_fractions(report, "57"), step_fractions(report, "58")
    assert len(high) == len(low) == 10
    steps = [b - a for a, b in zip(high + low, (high + low)[1:], strict=False)]
    # Every sampler step moves the bar by about one unit of the graph's 34 (20 steps + 14 nodes).
    unit = (0.95 - 0.05) / 34
    assert all(0 < step < 3 * unit for step in steps), steps
    assert report.fractions == sorted(report.fractions) and report.fractions[-1] == 1.0


@pytest.mark.parametrize("template", ["wan22_ti2v_5b_i2v", "wan22_14b_i2v"])
def test_image_to_video_uploads_the_init_image_under_the_name_the_server_gives(reference, tmp_path: Path, template):
    av = pytest.importorskip("av")
    # Another client's different file already has the name: the server renames this upload.
    taken = reference.input_dir / "shotcaller" / "harbour_start.png"
    taken.parent.mkdir(exist_ok=True)
    if not taken.exists():
        solid_png(taken, (0, 0, 0))
    colour = (30, 160, 220)
    init = solid_png(tmp_path / "harbour_start.png", colour)
    request = shot_request(tmp_path / "out", template, MediaKind.VIDEO, init_image=str(init), seed=12, height=64)
    result = reference_backend(reference).run(request, Recorder(), threading.Event())
    assert result.parameters["init_image"] == "shotcaller/harbour_start (1).png"
    assert (reference.input_dir / "shotcaller" / "harbour_start (1).png").read_bytes() == init.read_bytes()
    with av.open(result.files[0]) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 9 and frames[0].shape == (64, 64, 3)
    corner = frames[0][1, -2].astype(int)
    assert abs(corner - np.array(colour)).max() < 24  # the video starts from the uploaded image


def decoded_sound(path: str) -> tuple[int, int, np.ndarray]:
    av = pytest.importorskip("av")
    with av.open(path) as container:
        stream = container.streams.audio[0]
        rate, channels = stream.sample_rate, stream.channels
        chunks = [frame.to_ndarray() for frame in container.decode(audio=0)]
    samples = np.concatenate(chunks, axis=1).reshape(-1, channels)  # packed s16: interleaved channels
    return rate, channels, samples.astype(np.float32) / 32768.0


def test_sound_take_lasts_the_shot_and_its_pitch_comes_from_the_seed(reference, tmp_path: Path):
    from devservers.comfyui.media import tone_frequency

    # 30 frames at 16 fps = 1.875 s, rounded up to 1.9 s.
    request = shot_request(
        tmp_path, "stable_audio_open_t2a", MediaKind.AUDIO, frame_count=30, seed=19, prompt="a foghorn far away"
    )
    report = Recorder()
    result = reference_backend(reference).run(request, report, threading.Event())
    [path] = result.files
    assert path.endswith("stable_audio_open_t2a.flac") and result.parameters["duration"] == 1.9
    rate, channels, samples = decoded_sound(path)
    assert (rate, channels, len(samples)) == (44100, 2, round(1.9 * 44100))
    spectrum = np.abs(np.fft.rfft(samples[:, 0]))
    peak = np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))]
    assert abs(peak - tone_frequency(19)) < 2.0
    assert len(step_fractions(report, "3")) == 50 and not any(p.preview_image for p in report.updates)


def test_music_take_lasts_the_shot(reference, tmp_path: Path):
    request = shot_request(
        tmp_path,
        "ace_step_v1_t2m",
        MediaKind.MUSIC,
        Quality.FINAL,
        frame_count=48,
        fps=16.0,
        prompt="lo-fi piano, rain on the window",
    )
    result = reference_backend(reference).run(request, Recorder(), threading.Event())
    rate, channels, samples = decoded_sound(result.files[0])
    assert (rate, channels, len(samples) / rate) == (44100, 2, 3.0)
    assert float(np.abs(samples).max()) > 0.1  # not silence
    assert result.parameters["prompt"] == "lo-fi piano, rain on the window" and result.model == "ACE-Step v1 3.5B"


def test_identical_rerun_is_served_from_the_servers_cache(reference, tmp_path: Path):
    request = shot_request(tmp_path / "first", "sdxl_base_t2i", MediaKind.IMAGE, stem="cached_still", seed=77)
    first = reference_backend(reference).run(request, Recorder(), threading.Event())
    again_request = shot_request(tmp_path / "again", "sdxl_base_t2i", MediaKind.IMAGE, stem="cached_still", seed=77)
    report = Recorder()
    again = reference_backend(reference).run(again_request, report, threading.Event())
    assert Path(again.files[0]).read_bytes() == Path(first.files[0]).read_bytes()
    assert sorted(os.listdir(reference.output_dir / "shotcaller")).count("cached_still_00001_.png") == 1
    assert not any(n.startswith("cached_still_00002") for n in os.listdir(reference.output_dir / "shotcaller"))
    entry = server_json(reference, f"/history/{again.server_job_id}")[again.server_job_id]
    cached = next(m[1]["nodes"] for m in entry["status"]["messages"] if m[0] == "execution_cached")
    assert sorted(cached) == sorted(reference_backend(reference).templates["sdxl_base_t2i"].node_classes)
    assert report.fractions[-1] == 1.0 and not any("step" in p.message for p in report.updates)


def test_text_outputs_are_recorded_with_the_take(reference, tmp_path: Path):
    directory = tmp_path / "templates"
    directory.mkdir()
    workflow = {
        "1": {"class_type": "PrimitiveString", "inputs": {"value": ""}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        "3": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 255}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}},
    }
    binding = {
        "name": "card",
        "workflow": "card.json",
        "media": "image",
        "quality": "draft",
        "inputs": {
            "prompt": [{"node": "1", "input": "value"}],
            "filename_prefix": [{"node": "4", "input": "filename_prefix"}],
        },
    }
    (directory / "card.json").write_text(json.dumps(workflow))
    (directory / "card.binding.json").write_text(json.dumps(binding))
    backend = ComfyUIBackend("reference", reference.url, [str(directory)], poll_interval=0.1)
    result = backend.run(
        shot_request(tmp_path / "out", "card", MediaKind.IMAGE, prompt="title card: THE END"),
        Recorder(),
        threading.Event(),
    )
    assert result.parameters["text_outputs"] == ["title card: THE END"]
    assert [os.path.splitext(f)[1] for f in result.files] == [".png"]


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


# --- the job deadline, numbers from the server, errors on the way out ------------------------


def test_a_job_the_server_keeps_running_is_cancelled_at_its_deadline(stub, tmp_path: Path):
    comfy = MiniComfy(stub, events=[], websocket=False, history_lag=10**6)
    backend = stub_backend(stub, policy=TransportPolicy(job_seconds=0.5))
    with pytest.raises(JobTimedOut, match="job deadline; it was cancelled on the server") as caught:
        backend.run(wan_request(tmp_path), Recorder(), threading.Event())
    assert caught.value.failover, "another server may still make the shot"
    assert "Job deadline" in caught.value.hint
    assert [json.loads(b) for b in stub.requests_to("POST", "/interrupt")] == [{"prompt_id": comfy.prompt_id}]
    assert list(tmp_path.iterdir()) == []


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


def test_memory_sizes_of_1e999_are_no_number(stub):
    stub.on("GET", "/system_stats", (200, '{"system": {"ram_total": 1e999}, "devices": [{"vram_total": 1e999}]}', JSON))
    stub.on("GET", "/queue", (200, {"queue_running": [], "queue_pending": []}, JSON))
    probe = stub_backend(stub).probe()
    assert (probe.vram_total, probe.ram_total) == (0, 0)


def test_an_unexpected_error_after_submitting_is_typed_and_cancels_the_prompt(stub, tmp_path: Path):
    comfy = MiniComfy(stub, events=[], websocket=False, history_lag=10**6)

    def report(progress: Progress) -> None:
        if "queued" in progress.message:
            raise KeyError("a bug in a progress handler")

    with pytest.raises(ProtocolError, match="could not use"):
        stub_backend(stub).run(wan_request(tmp_path), report, threading.Event())
    assert [json.loads(b) for b in stub.requests_to("POST", "/interrupt")] == [{"prompt_id": comfy.prompt_id}]


def test_an_html_page_for_the_video_is_not_kept(stub, tmp_path: Path):
    MiniComfy(stub)
    stub.on("GET", "/view", (200, b"<!DOCTYPE html><html><body>Proxy error</body></html>", "video/mp4"))
    with pytest.raises(ProtocolError, match="not a video: it begins with '<!DOCTYPE html>"):
        stub_backend(stub).run(wan_request(tmp_path / "takes"), Recorder(), threading.Event())
    assert not (tmp_path / "takes").exists() or list((tmp_path / "takes").iterdir()) == []
