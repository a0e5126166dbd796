"""Video files for the reference server: the prompt and frame number drawn on every frame (the
ComfyUI reference server's renderer), with the init image as a thumbnail in the top-right corner."""

from __future__ import annotations

import os
import re
import time

import numpy as np
from PIL import Image

from devservers.comfyui.media import Frames, RenderedFrames, encode_video


class WithThumbnail(Frames):
    """Frames of `source` with `image` pasted at the top right, a quarter of the frame wide."""

    def __init__(self, source: Frames, image_path: str) -> None:
        self.source = source
        self.width, self.height, self.count = source.width, source.height, source.count
        with Image.open(image_path) as image:
            rgb = image.convert("RGB")
            width = max(2, source.width // 4)
            height = max(2, round(width * rgb.height / max(1, rgb.width)))
            height = min(height, max(2, source.height // 2))
            self.thumbnail = np.asarray(rgb.resize((width, height)))
        self.margin = max(2, source.width // 40)

    def frame(self, index: int) -> np.ndarray:
        out = self.source.frame(index).copy()
        h, w = self.thumbnail.shape[:2]
        x0 = self.width - self.margin - w
        out[self.margin : self.margin + h, x0 : x0 + w] = self.thumbnail
        return out


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
    if init_image:
        source = WithThumbnail(source, init_image)
    encode_video(path, source, fps, options={"preset": "ultrafast", "crf": "28"})
