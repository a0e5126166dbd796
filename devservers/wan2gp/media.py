"""Video files for the reference server: the prompt and frame number drawn on every frame (the
ComfyUI reference server's renderer); with a start image, the video begins on that image."""

from __future__ import annotations

import os
import re
import time

import numpy as np
from PIL import Image

from devservers.comfyui.drawing import FromStartImage, RenderedFrames
from devservers.comfyui.frames import Frames
from devservers.comfyui.media import encode_video


def output_name(prompt: str, seed: int, output_dir: str) -> str:
    """A Wan2GP-like file name (`2026-08-21-18h37m12s_seed42_A red ball.mp4`), made unique."""
    words = re.sub(r"[^A-Za-z0-9 ,.-]+", "", prompt).strip()[:50].strip() or "video"
    stem = f"{time.strftime('%Y-%m-%d-%Hh%Mm%Ss')}_seed{seed}_{words}"
    candidate, counter = os.path.join(output_dir, f"{stem}.mp4"), 2
    while os.path.exists(candidate):
        candidate = os.path.join(output_dir, f"{stem}_{counter}.mp4")
        counter += 1
    return candidate


def render_video(
    path: str, *, width: int, height: int, frames: int, fps: float, seed: int, prompt: str, caption: str,
    init_image: str | None = None,
) -> None:  # fmt: skip
    source: Frames = RenderedFrames(width, height, frames, seed, prompt, caption)
    if init_image:  # a start image: the video begins on it, as Wan2GP's image to video does
        with Image.open(init_image) as image:
            source = FromStartImage(source, np.asarray(image.convert("RGB")))
    encode_video(path, source, fps, options={"preset": "ultrafast", "crf": "28"})
