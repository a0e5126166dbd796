"""Pixels, sounds and files for the reference server: frame batches, the stand-in "generated"
frames and sounds, PNG/WebP/video/audio encoding and ComfyUI's output file naming.

IMAGE values are `Frames` objects (uint8 RGB, possibly lazy) instead of torch tensors, so a
1280x704x121 video is rendered frame by frame while it is encoded instead of being held in memory.
"""

from __future__ import annotations

import colorsys
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import lru_cache
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo


class Frames:
    """A batch of RGB uint8 frames of one size; `frame(i)` returns an (H, W, 3) array."""

    width: int
    height: int
    count: int

    def frame(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(self.count):
            yield self.frame(index)

    def __str__(self) -> str:  # shown in execution_error current_inputs
        return f"<IMAGE {self.count}x{self.height}x{self.width}x3>"


class ArrayFrames(Frames):
    def __init__(self, array: np.ndarray):
        if array.ndim != 4 or array.shape[3] != 3 or array.dtype != np.uint8:
            raise ValueError(f"expected a (B, H, W, 3) uint8 array, got {array.shape} {array.dtype}")
        self.array = array
        self.count, self.height, self.width = array.shape[:3]

    def frame(self, index: int) -> np.ndarray:
        return self.array[index]


class SolidFrames(Frames):
    def __init__(self, width: int, height: int, count: int, rgb: tuple[int, int, int]):
        self.width, self.height, self.count = width, height, count
        self._frame = np.empty((height, width, 3), np.uint8)
        self._frame[:] = rgb

    def frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self._frame


class MappedFrames(Frames):
    """Frames of `source` passed through `fn` (lazily), e.g. invert or scale."""

    def __init__(self, source: Frames, fn: Callable[[np.ndarray], np.ndarray], width: int, height: int):
        self.source, self.fn = source, fn
        self.width, self.height, self.count = width, height, source.count

    def frame(self, index: int) -> np.ndarray:
        return self.fn(self.source.frame(index))


class SliceFrames(Frames):
    def __init__(self, source: Frames, indices: list[int]):
        self.source, self.indices = source, indices
        self.width, self.height, self.count = source.width, source.height, len(indices)

    def frame(self, index: int) -> np.ndarray:
        return self.source.frame(self.indices[index])


# ---------------------------------------------------------------------------- drawing
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


# ---------------------------------------------------------------------------- sounds
AUDIO_SAMPLE_RATE = 44100  # Stable Audio Open and ACE-Step both decode to 44.1 kHz stereo


def tone_frequency(seed: int) -> float:
    """The pitch of the stand-in sound for a seed: one of 36 semitones from A2 (110 Hz)."""
    return 110.0 * 2.0 ** ((int(seed) % 36) / 12.0)


def _text_phase(text: str) -> float:
    return (sum(text.encode("utf-8")) % 628) / 100.0


def _fade(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    ramp = min(len(wave) // 2, sample_rate // 100)  # 10 ms in and out: no clicks
    if ramp > 0:
        envelope = np.linspace(0.0, 1.0, ramp, dtype=np.float32)
        wave[:ramp] *= envelope
        wave[-ramp:] *= envelope[::-1]
    return wave


def synth_sound(seconds: float, seed: int, text: str = "", sample_rate: int = AUDIO_SAMPLE_RATE) -> np.ndarray:
    """A (2, samples) float32 stereo tone of `seconds`: pitch from the seed, a little breath of noise."""
    count = max(1, round(float(seconds) * sample_rate))
    t = np.arange(count, dtype=np.float64) / sample_rate
    f0 = tone_frequency(seed)
    wave = 0.35 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(2 * np.pi * 2 * f0 * t + _text_phase(text))
    wave *= 0.85 + 0.15 * np.sin(2 * np.pi * 3.0 * t)  # slow tremolo
    wave += np.random.default_rng(int(seed)).normal(0.0, 0.01, count)
    mono = _fade(wave.astype(np.float32), sample_rate)
    return np.stack([mono, mono * 0.9])


MUSIC_NOTE_SECONDS = 0.25  # 120 bpm in eighth notes


def music_notes(seed: int) -> list[float]:
    """The arpeggio of the stand-in music for a seed: root, third, fifth, third of a key from the seed."""
    root = 220.0 * 2.0 ** ((int(seed) % 12) / 12.0)
    third = 4 if int(seed) % 2 == 0 else 3  # major for even seeds, minor for odd ones
    return [root * 2.0 ** (semitones / 12.0) for semitones in (0, third, 7, third)]


def synth_music(seconds: float, seed: int, text: str = "", sample_rate: int = AUDIO_SAMPLE_RATE) -> np.ndarray:
    """A (2, samples) float32 stereo arpeggio with a bass note on every beat, `seconds` long."""
    count = max(1, round(float(seconds) * sample_rate))
    t = np.arange(count, dtype=np.float64) / sample_rate
    notes = np.array(music_notes(seed))
    index = (t // MUSIC_NOTE_SECONDS).astype(np.int64)
    local = t - index * MUSIC_NOTE_SECONDS
    melody = 0.3 * np.sin(2 * np.pi * notes[index % len(notes)] * local) * np.exp(-local * 6.0)
    beat = t % (2 * MUSIC_NOTE_SECONDS)
    bass = 0.2 * np.sin(2 * np.pi * notes[0] / 2 * t + _text_phase(text)) * np.exp(-beat * 3.0)
    left = _fade((melody + 0.7 * bass).astype(np.float32), sample_rate)
    right = _fade((0.7 * melody + bass).astype(np.float32), sample_rate)
    return np.stack([left, right])


# ---------------------------------------------------------------------------- encoding
def png_bytes(pixels: np.ndarray, text_chunks: dict[str, str] | None = None, compress_level: int = 4) -> bytes:
    info = None
    if text_chunks:
        info = PngInfo()
        for key, value in text_chunks.items():
            info.add_text(key, value)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", pnginfo=info, compress_level=compress_level)
    return buffer.getvalue()


def metadata_chunks(prompt: dict | None, extra_pnginfo: dict | None) -> dict[str, str]:
    chunks = {}
    if prompt is not None:
        chunks["prompt"] = json.dumps(prompt)
    for key, value in (extra_pnginfo or {}).items():
        chunks[key] = json.dumps(value)
    return chunks


def save_webp(path: str, frames: Frames, fps: float, lossless: bool, quality: int, method: int) -> None:
    images = [Image.fromarray(f) for f in frames]
    images[0].save(
        path,
        format="WEBP",
        save_all=True,
        append_images=images[1:],
        duration=int(1000.0 / fps),
        lossless=lossless,
        quality=quality,
        method=method,
        loop=0,
    )


def save_apng(path: str, frames: Frames, fps: float, compress_level: int) -> None:
    images = [Image.fromarray(f) for f in frames]
    images[0].save(
        path,
        format="PNG",
        save_all=True,
        append_images=images[1:],
        duration=int(1000.0 / fps),
        compress_level=compress_level,
        loop=0,
    )


def frame_rate(fps: float) -> Fraction:
    return Fraction(round(float(fps) * 1000), 1000)


def encode_video(
    path: str,
    frames: Frames,
    fps: float,
    *,
    container: str = "mp4",
    codec: str = "libx264",
    options: dict[str, str] | None = None,
    audio: dict | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Encode `frames` (+ optional AUDIO dict) with PyAV. yuv420p needs even sizes: odd ones are cropped."""
    width, height = frames.width - frames.width % 2, frames.height - frames.height % 2
    if width < 2 or height < 2:
        raise ValueError(f"video frames of {frames.width}x{frames.height} are too small to encode")
    rate = frame_rate(fps)
    with av.open(path, mode="w", format=container) as output:
        for key, value in (metadata or {}).items():
            output.metadata[key] = value
        stream: Any = output.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_type = "AUTO"
        audio_stream = None
        if audio is not None:
            audio_stream = output.add_stream("aac" if container == "mp4" else "libopus", rate=audio["sample_rate"])
        for pixels in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels[:height, :width]), format="rgb24")
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
        if audio_stream is not None and audio is not None:
            duration = frames.count / float(rate)
            _encode_audio(output, audio_stream, audio, duration)


def _encode_audio(output, stream, audio: dict, duration: float | None = None) -> None:
    waveform = np.asarray(audio["waveform"], np.float32)[0]  # (channels, samples)
    rate = int(audio["sample_rate"])
    if duration is not None:
        wanted = round(duration * rate)
        waveform = waveform[:, :wanted]
        if waveform.shape[1] < wanted:
            waveform = np.pad(waveform, ((0, 0), (0, wanted - waveform.shape[1])))
    layout = "mono" if waveform.shape[0] == 1 else "stereo"
    chunk = 1024
    for start in range(0, waveform.shape[1], chunk):
        piece = np.ascontiguousarray(waveform[:, start : start + chunk])
        frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        output.mux(stream.encode(frame))
    output.mux(stream.encode())


def save_flac(path: str, audio: dict) -> None:
    with av.open(path, mode="w", format="flac") as output:
        stream = output.add_stream("flac", rate=int(audio["sample_rate"]))
        _encode_audio(output, stream, audio)


# ---------------------------------------------------------------------------- naming
def _expand_prefix(prefix: str, width: int, height: int) -> str:
    if "%" not in prefix:
        return prefix
    now = time.localtime()
    values = {
        "width": width,
        "height": height,
        "year": now.tm_year,
        "month": f"{now.tm_mon:02}",
        "day": f"{now.tm_mday:02}",
        "hour": f"{now.tm_hour:02}",
        "minute": f"{now.tm_min:02}",
        "second": f"{now.tm_sec:02}",
    }
    for key, value in values.items():
        prefix = prefix.replace(f"%{key}%", str(value))
    return prefix


def output_path(prefix: str, base_dir: str, width: int = 0, height: int = 0) -> tuple[str, str, int, str]:
    """(folder, file stem, next counter, subfolder) for a filename prefix, like ComfyUI's naming:
    files are `{stem}_{counter:05}_.ext` and a `/` in the prefix selects a subfolder."""
    prefix = _expand_prefix(prefix, width, height)
    normal = os.path.normpath(prefix)
    subfolder, stem = os.path.dirname(normal), os.path.basename(normal)
    base_dir = os.path.abspath(base_dir)
    folder = os.path.abspath(os.path.join(base_dir, subfolder))
    if os.path.commonpath((base_dir, folder)) != base_dir:
        raise Exception(
            "**** ERROR: Saving image outside the output folder is not allowed."
            f"\n full_output_folder: {folder}\n         output_dir: {base_dir}"
        )
    pattern = re.compile(re.escape(stem) + r"_(\d+)_")
    try:
        counters = [int(m.group(1)) for m in map(pattern.match, os.listdir(folder)) if m]
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        counters = []
    return folder, stem, max(counters, default=0) + 1, subfolder


def load_image_file(path: str) -> tuple[Frames, np.ndarray]:
    """LoadImage: every frame of the file as RGB plus a mask (1 - alpha; 64x64 zeros if opaque)."""
    from PIL import ImageOps, ImageSequence

    frames, masks = [], []
    with Image.open(path) as image:
        size = None
        for page in ImageSequence.Iterator(image):
            page = ImageOps.exif_transpose(page) or page
            rgb = page.convert("RGB")
            if size is None:
                size = rgb.size
            if rgb.size != size:
                continue
            frames.append(np.asarray(rgb))
            if "A" in page.getbands():
                alpha = np.asarray(page.getchannel("A"), np.float32) / 255.0
                masks.append(1.0 - alpha)
            else:
                masks.append(np.zeros((64, 64), np.float32))
    return ArrayFrames(np.stack(frames)), np.stack(masks)
