"""Builders shared by the ComfyUIBackend tests: a shot request, a progress recorder, and MiniComfy,
which scripts one job on the loopback stub (conftest's `stub`): prompt -> websocket events ->
history -> /view."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from shotcaller.backends.base import GenerationRequest, Offer, Progress
from shotcaller.backends.comfyui import ComfyUIBackend
from shotcaller.backends.comfyui.templates import BUNDLED_TEMPLATE_DIR
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
