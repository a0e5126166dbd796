"""The node catalogue (object_info) of the reference server.

`object_info.json` next to this module is the `/object_info` answer captured from a real
ComfyUI 0.3.64 server (496 nodes, no models installed). The loaders' model combos are empty in
that capture; `Catalogue` fills them from the models the reference server is told it has, and
fills the file pickers (LoadImage, LoadAudio, LoadVideo) from the input directory, exactly where
the real server would list its folders.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable
from pathlib import Path

OBJECT_INFO_PATH = Path(__file__).with_name("object_info.json")

# GET /models, in the order the recorded server lists its model folders.
MODEL_FOLDERS = [
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

# Legacy folder names the real server maps onto the current ones.
FOLDER_ALIASES = {"clip": "text_encoders", "unet": "diffusion_models", "t2i_adapter": "controlnet"}

# (class_type, input name) -> model folder whose files fill that combo.
MODEL_COMBOS: dict[tuple[str, str], str] = {
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("TripleCLIPLoader", "clip_name1"): "text_encoders",
    ("TripleCLIPLoader", "clip_name2"): "text_encoders",
    ("TripleCLIPLoader", "clip_name3"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name1"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name2"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name3"): "text_encoders",
    ("QuadrupleCLIPLoader", "clip_name4"): "text_encoders",
    ("VAELoader", "vae_name"): "vae",
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("CheckpointLoader", "ckpt_name"): "checkpoints",
    ("ImageOnlyCheckpointLoader", "ckpt_name"): "checkpoints",
    ("unCLIPCheckpointLoader", "ckpt_name"): "checkpoints",
    ("CreateHookModelAsLora", "ckpt_name"): "checkpoints",
    ("CreateHookModelAsLoraModelOnly", "ckpt_name"): "checkpoints",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("CreateHookLora", "lora_name"): "loras",
    ("CreateHookLoraModelOnly", "lora_name"): "loras",
    ("TrainLoraNode", "existing_lora"): "loras",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("ControlNetLoader", "control_net_name"): "controlnet",
    ("DiffControlNetLoader", "control_net_name"): "controlnet",
    ("StyleModelLoader", "style_model_name"): "style_models",
    ("GLIGENLoader", "gligen_name"): "gligen",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("HypernetworkLoader", "hypernetwork_name"): "hypernetworks",
    ("PhotoMakerLoader", "photomaker_model_name"): "photomaker",
    ("ModelPatchLoader", "name"): "model_patches",
    ("AudioEncoderLoader", "audio_encoder_name"): "audio_encoders",
    ("DiffusersLoader", "model_path"): "diffusers",
}

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac"}
VIDEO_EXTENSIONS = {".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v"}

# (class_type, input name) -> extensions of the input-directory files listed in that combo.
INPUT_FILE_COMBOS: dict[tuple[str, str], set[str]] = {
    ("LoadImage", "image"): IMAGE_EXTENSIONS,
    ("LoadImageMask", "image"): IMAGE_EXTENSIONS,
    ("LoadAudio", "audio"): AUDIO_EXTENSIONS | VIDEO_EXTENSIONS,
    ("LoadVideo", "file"): VIDEO_EXTENSIONS,
}

# Every model file the bundled templates (templates/comfyui) name, so each of them runs out of the box.
DEFAULT_MODELS = [
    # Wan 2.2 TI2V 5B (text and image to video, drafts)
    "diffusion_models/wan2.2_ti2v_5B_fp16.safetensors",
    "text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    "vae/wan2.2_vae.safetensors",
    # Wan 2.2 14B (text and image to video, finals: high-noise + low-noise experts)
    "diffusion_models/wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors",
    "diffusion_models/wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors",
    "diffusion_models/wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
    "diffusion_models/wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
    "vae/wan_2.1_vae.safetensors",
    # SDXL base 1.0 and FLUX.1 dev (text to image)
    "checkpoints/sd_xl_base_1.0.safetensors",
    "diffusion_models/flux1-dev.safetensors",
    "text_encoders/t5xxl_fp16.safetensors",
    "text_encoders/clip_l.safetensors",
    "vae/ae.safetensors",
    # Stable Audio Open 1.0 (sound) and ACE-Step v1 3.5B (music)
    "checkpoints/stable-audio-open-1.0.safetensors",
    "text_encoders/t5_base.safetensors",
    "checkpoints/ace_step_v1_3.5b.safetensors",
]

_BASE_CACHE: dict[str, dict] = {}


def load_base_catalogue() -> dict[str, dict]:
    """The captured catalogue, parsed once per process. Treat it as read-only."""
    if not _BASE_CACHE:
        with OBJECT_INFO_PATH.open(encoding="utf-8") as handle:
            _BASE_CACHE.update(json.load(handle))
    return _BASE_CACHE


def parse_models(specs: Iterable[str]) -> dict[str, list[str]]:
    """Turn `folder/filename` specs into {folder: [filenames]} (sorted, deduplicated)."""
    models: dict[str, set[str]] = {}
    for spec in specs:
        spec = spec.strip().replace("\\", "/")
        if "/" not in spec:
            raise ValueError(f"model {spec!r} must be given as folder/filename, e.g. vae/wan2.2_vae.safetensors")
        folder, name = spec.split("/", 1)
        folder = FOLDER_ALIASES.get(folder, folder)
        if folder not in MODEL_FOLDERS:
            raise ValueError(f"unknown model folder {folder!r}; known: {', '.join(MODEL_FOLDERS)}")
        if not name:
            raise ValueError(f"model {spec!r} has no filename")
        models.setdefault(folder, set()).add(name)
    return {folder: sorted(names) for folder, names in models.items()}


def _combo_options(spec: list) -> list:
    """The option list of a combo input spec (legacy list form or `COMBO` form)."""
    if spec and spec[0] == "COMBO":
        return spec[1].setdefault("options", [])
    return spec[0]


class Catalogue:
    """The node catalogue with model and input-file combos filled in."""

    def __init__(self, models: dict[str, list[str]], input_dir: str):
        self.base = load_base_catalogue()
        self.models = models
        self.input_dir = input_dir
        self._filled_classes = {cls for cls, _ in MODEL_COMBOS} | {cls for cls, _ in INPUT_FILE_COMBOS}

    def has(self, class_type: str) -> bool:
        return class_type in self.base

    def model_files(self, folder: str) -> list[str]:
        return list(self.models.get(folder, []))

    def input_files(self, extensions: set[str]) -> list[str]:
        """Files directly in the input directory with one of `extensions` (sorted), like the real lists."""
        try:
            names = os.listdir(self.input_dir)
        except FileNotFoundError:
            return []
        return sorted(
            name
            for name in names
            if os.path.isfile(os.path.join(self.input_dir, name)) and os.path.splitext(name)[1].lower() in extensions
        )

    def node(self, class_type: str) -> dict | None:
        """One node's object_info entry, combos filled. A fresh copy for filled nodes."""
        entry = self.base.get(class_type)
        if entry is None or class_type not in self._filled_classes:
            return entry
        entry = copy.deepcopy(entry)
        inputs = entry["input"]
        for section in ("required", "optional"):
            for name, spec in inputs.get(section, {}).items():
                folder = MODEL_COMBOS.get((class_type, name))
                if folder is not None:
                    options = _combo_options(spec)
                    keep = [o for o in options if o in ("pixel_space", "[None]")]
                    files = self.model_files(folder)
                    # VAELoader lists files before "pixel_space"; TrainLoraNode lists "[None]" first.
                    options[:] = keep + files if "[None]" in keep else files + keep
                extensions = INPUT_FILE_COMBOS.get((class_type, name))
                if extensions is not None:
                    _combo_options(spec)[:] = self.input_files(extensions)
        return entry

    def all_nodes(self) -> dict[str, dict]:
        """The whole catalogue for GET /object_info (shallow copy, filled entries replaced)."""
        result = dict(self.base)
        for class_type in self._filled_classes:
            if class_type in result:
                result[class_type] = self.node(class_type)  # type: ignore[assignment]
        return result

    def is_output_node(self, class_type: str) -> bool:
        entry = self.base.get(class_type)
        return bool(entry and entry.get("output_node"))

    def return_types(self, class_type: str) -> list:
        return list(self.base[class_type]["output"])
