"""The stand-in "generated" pictures of the reference server: frames that show the prompt, the seed
and the frame number on a colour from the seed (or over a start image), and the sampler's
previews, noisy until the last step."""

from __future__ import annotations

import colorsys
import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .frames import Frames
from .media import png_bytes


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except Exception:  # Pillow built without FreeType
        return ImageFont.load_default()


def seed_colour(seed: int) -> tuple[int, int, int]:
    """A stable, clearly distinguishable background colour for a seed."""
    hue = (int(seed) * 0.6180339887498949) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 0.62)
    return int(r * 255), int(g * 255), int(b * 255)


def wrap_text(draw: ImageDraw.ImageDraw, text: str, face, max_width: int, max_lines: int) -> list[str]:
    words = text.split()
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if draw.textlength(candidate, font=face) <= max_width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip(".") + " …"
    return lines or [""]


class RenderedFrames(Frames):
    """Stand-in for a decoded video or still: the positive prompt (wrapped), seed info and (for
    videos) the frame number drawn on a background whose colour comes from the seed, or on the
    start image of an image-to-video latent. The static part is drawn once."""

    def __init__(
        self,
        width: int,
        height: int,
        count: int,
        seed: int,
        text: str,
        caption: str = "",
        background: np.ndarray | None = None,
    ):
        self.width, self.height, self.count = width, height, count
        self.seed = seed
        if background is not None:
            picture = Image.fromarray(np.ascontiguousarray(background)).convert("RGB")
            base = np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR), np.float32)
        else:
            base = np.empty((height, width, 3), np.float32)
            top = np.array(seed_colour(seed), np.float32)
            shade = np.linspace(1.0, 0.55, height, dtype=np.float32)[:, None, None]
            base[:] = top[None, None, :] * shade
        image = Image.fromarray(base.astype(np.uint8))
        draw = ImageDraw.Draw(image)
        margin = max(2, width // 40)
        size = max(8, min(64, height // 14, width // 18))
        face = font(size)
        line_height = int(size * 1.25)
        self.label_size = max(8, min(96, height // 9))
        usable = height - 2 * margin - int(self.label_size * 1.6)
        max_lines = max(1, usable // line_height - (1 if caption else 0))
        y = margin
        for line in wrap_text(draw, text or "(empty prompt)", face, width - 2 * margin, max_lines):
            draw.text(
                (margin, y),
                line,
                font=face,
                fill=(255, 255, 255),
                stroke_width=max(1, size // 16),
                stroke_fill=(0, 0, 0),
            )
            y += line_height
        if caption:
            small = font(max(8, size * 2 // 3))
            draw.text((margin, y + line_height // 4), caption, font=small, fill=(235, 235, 235))
        self.base = np.asarray(image).copy()
        self.margin = margin
        self.label_top = height - margin - int(self.label_size * 1.3)

    def frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self.count:
            raise IndexError(index)
        if self.count == 1:
            return self.base  # a still: the prompt and seed, no frame counter
        out = self.base.copy()
        h, w = self.height, self.width
        # Progress bar along the bottom edge and a marker that moves with the frame number.
        bar = max(2, h // 60)
        filled = round(w * (index + 1) / self.count)
        out[h - bar :, :filled] = (255, 255, 255)
        out[h - bar :, filled:] = (30, 30, 30)
        marker = max(4, min(w, h) // 12)
        x = int((w - marker) * (index / max(1, self.count - 1)))
        y0 = max(0, self.label_top - marker - bar)
        out[y0 : y0 + marker, x : x + marker] = 255 - out[y0 : y0 + marker, x : x + marker]
        # Frame number drawn on a crop only (cheap even for 1280x704).
        top = max(0, self.label_top)
        crop = Image.fromarray(out[top : h - bar])
        ImageDraw.Draw(crop).text(
            (self.margin, 0),
            f"frame {index + 1}/{self.count}",
            font=font(self.label_size),
            fill=(255, 255, 255),
            stroke_width=max(1, self.label_size // 14),
            stroke_fill=(0, 0, 0),
        )
        out[top : h - bar] = np.asarray(crop)
        return out


class FromStartImage(Frames):
    """An image-to-video result: frame 0 is the start image (scaled to the frame), and each next
    frame moves a little further towards the rendered frames (`target`), reaching them at the
    last frame. So a segment continued from another's last frame begins exactly where it ended,
    and consecutive frames change by small, even steps: continuity can be checked by comparing
    frames, as with a real model."""

    def __init__(self, target: Frames, start_image: np.ndarray):
        self.target = target
        self.width, self.height, self.count = target.width, target.height, target.count
        picture = Image.fromarray(np.ascontiguousarray(start_image)).convert("RGB")
        if picture.size != (self.width, self.height):
            picture = picture.resize((self.width, self.height), Image.Resampling.BILINEAR)
        self.start = np.asarray(picture, np.float32)

    def frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self.count:
            raise IndexError(index)
        if index == 0:
            return self.start.astype(np.uint8)
        weight = index / max(1, self.count - 1)
        mixed = self.start * (1.0 - weight) + self.target.frame(index).astype(np.float32) * weight
        return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def preview_image(width: int, height: int, seed: int, text: str, step: int, steps: int, fmt: str = "png") -> bytes:
    """A small PNG (or JPEG, as real ComfyUI sends) of the sampler state: noisy until the last step."""
    scale = min(1.0, 256 / max(width, height))
    pw, ph = max(8, int(width * scale)), max(8, int(height * scale))
    clean = RenderedFrames(pw, ph, 1, seed, text).frame(0).astype(np.float32)
    rng = np.random.default_rng(int(seed) * 1000 + step)
    noise = rng.integers(0, 256, clean.shape).astype(np.float32)
    mix = 1.0 - step / max(1, steps)
    pixels = (clean * (1 - mix) + noise * mix).astype(np.uint8)
    if fmt == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
        return buffer.getvalue()
    return png_bytes(pixels)
