"""Files for the reference server: PNG/WebP/video/audio encoding and ComfyUI's output file naming.

The frames they encode are frames.py's; the stand-in pictures and sounds are drawing.py and sounds.py.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from fractions import Fraction
from typing import Any

import av
import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .frames import Frames


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
