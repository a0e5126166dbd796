"""The reference server's nodes that need no model weights and do their real work: images, the one
API node standing in for all, video and audio encoding and saving, primitives and text.
"""

from __future__ import annotations

import json
import os
import random
import string

import numpy as np
from PIL import Image

from . import media
from .frames import MappedFrames, SliceFrames, SolidFrames, load_image_file
from .node_types import Video, node, resolve_input_file


# ---------------------------------------------------------------------------- images
@node("EmptyImage")
def empty_image(ctx, width, height, batch_size=1, color=0):
    rgb = ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF)
    return (SolidFrames(width, height, batch_size, rgb),), None


@node("LoadImage")
def load_image(ctx, image):
    frames, mask = load_image_file(resolve_input_file(ctx, image))
    return (frames, mask), None


# ---------------------------------------------------------------------------- API nodes
# ComfyUI's API nodes call comfy.org's paid services with the account key the client sends in the
# prompt's extra_data (api_key_comfy_org); the real ones fail at run time without it. One of them
# stands in for all: it makes a still of the requested size from the seed, and only with a key.
NO_COMFY_ORG_KEY = "Unauthorized: Please login first to use this node."


@node("OpenAIDalle2")
def openai_dalle2(ctx, prompt, seed=0, size="1024x1024", n=1, image=None, mask=None):
    if not (ctx.job.extra.get("api_key_comfy_org") or ctx.job.extra.get("auth_token_comfy_org")):
        raise PermissionError(NO_COMFY_ORG_KEY)
    width, _, height = str(size).partition("x")
    rgb = tuple(random.Random(f"{prompt}/{seed}").randrange(256) for _ in range(3))
    return (SolidFrames(int(width), int(height), int(n), rgb),), None


@node("ImageFromBatch")
def image_from_batch(ctx, image, batch_index, length):
    # As ComfyUI's: an index past the batch gives its last frame, a length past it what is left.
    start = min(image.count - 1, int(batch_index))
    count = min(image.count - start, int(length))
    return (SliceFrames(image, list(range(start, start + count))),), None


@node("ImageInvert")
def image_invert(ctx, image):
    return (MappedFrames(image, lambda f: 255 - f, image.width, image.height),), None


_RESAMPLE = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


@node("ImageScale")
def image_scale(ctx, image, upscale_method, width, height, crop):
    if width == 0 and height == 0:
        return (image,), None
    if width == 0:
        width = max(1, round(image.width * height / image.height))
    if height == 0:
        height = max(1, round(image.height * width / image.width))

    def scale(pixels: np.ndarray) -> np.ndarray:
        picture = Image.fromarray(pixels)
        if crop == "center":
            src_w, src_h = picture.size
            if src_w / src_h > width / height:
                new_w = round(src_h * width / height)
                x = (src_w - new_w) // 2
                picture = picture.crop((x, 0, x + new_w, src_h))
            else:
                new_h = round(src_w * height / width)
                y = (src_h - new_h) // 2
                picture = picture.crop((0, y, src_w, y + new_h))
        return np.asarray(picture.resize((width, height), _RESAMPLE[upscale_method]))

    return (MappedFrames(image, scale, width, height),), None


def _save_images(ctx, images, prefix: str, kind: str) -> dict:
    folder, stem, counter, subfolder = media.output_path(prefix, ctx.directories[kind], images.width, images.height)
    chunks = media.metadata_chunks(ctx.prompt, ctx.extra_pnginfo)
    results = []
    for index, pixels in enumerate(images):
        name = f"{stem.replace('%batch_num%', str(index))}_{counter:05}_.png"
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(media.png_bytes(pixels, chunks, compress_level=4 if kind == "output" else 1))
        results.append({"filename": name, "subfolder": subfolder, "type": kind})
        counter += 1
    return {"images": results}


@node("SaveImage")
def save_image(ctx, images, filename_prefix="ComfyUI"):
    return (), _save_images(ctx, images, filename_prefix, "output")


@node("PreviewImage")
def preview_image(ctx, images):
    suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
    return (), _save_images(ctx, images, f"ComfyUI_temp_{suffix}", "temp")


@node("SaveAnimatedWEBP")
def save_animated_webp(ctx, images, filename_prefix="ComfyUI", fps=6.0, lossless=True, quality=80, method="default"):
    folder, stem, counter, subfolder = media.output_path(
        filename_prefix, ctx.directories["output"], images.width, images.height
    )
    name = f"{stem}_{counter:05}_.webp"
    level = {"default": 4, "fastest": 0, "slowest": 6}[method]
    media.save_webp(os.path.join(folder, name), images, fps, lossless, quality, level)
    ui = {"images": [{"filename": name, "subfolder": subfolder, "type": "output"}], "animated": [images.count != 1]}
    return (), ui


@node("SaveAnimatedPNG")
def save_animated_png(ctx, images, filename_prefix="ComfyUI", fps=6.0, compress_level=4):
    folder, stem, counter, subfolder = media.output_path(
        filename_prefix, ctx.directories["output"], images.width, images.height
    )
    name = f"{stem}_{counter:05}_.png"
    media.save_apng(os.path.join(folder, name), images, fps, compress_level)
    ui = {"images": [{"filename": name, "subfolder": subfolder, "type": "output"}], "animated": [True]}
    return (), ui


# ---------------------------------------------------------------------------- video & audio
def _video_metadata(ctx) -> dict[str, str]:
    return media.metadata_chunks(ctx.prompt, ctx.extra_pnginfo)


@node("SaveWEBM")
def save_webm(ctx, images, filename_prefix="ComfyUI", codec="vp9", fps=24.0, crf=32.0):
    folder, stem, counter, subfolder = media.output_path(
        filename_prefix, ctx.directories["output"], images.width, images.height
    )
    name = f"{stem}_{counter:05}_.webm"
    encoder = {"vp9": "libvpx-vp9", "av1": "libsvtav1"}[codec]
    options = {"crf": str(int(crf))}
    if codec == "vp9":
        options.update({"deadline": "realtime", "cpu-used": "8", "b": "0"})
    media.encode_video(
        os.path.join(folder, name),
        images,
        fps,
        container="webm",
        codec=encoder,
        options=options,
        metadata=_video_metadata(ctx),
    )
    ui = {"images": [{"filename": name, "subfolder": subfolder, "type": "output"}], "animated": [True]}
    return (), ui


@node("CreateVideo")
def create_video(ctx, images, fps, audio=None):
    return (Video(images, fps, audio),), None


@node("GetVideoComponents")
def get_video_components(ctx, video):
    return (video.frames, video.audio, video.fps), None


@node("SaveVideo")
def save_video(ctx, video, filename_prefix="video/ComfyUI", format="auto", codec="auto"):
    frames = video.frames
    folder, stem, counter, subfolder = media.output_path(
        filename_prefix, ctx.directories["output"], frames.width, frames.height
    )
    name = f"{stem}_{counter:05}_.mp4"
    media.encode_video(
        os.path.join(folder, name),
        frames,
        video.fps,
        container="mp4",
        codec="libx264",
        options={"preset": "veryfast", "crf": "23"},
        audio=video.audio,
        metadata=_video_metadata(ctx),
    )
    ui = {"images": [{"filename": name, "subfolder": subfolder, "type": "output"}], "animated": [True]}
    return (), ui


@node("EmptyAudio")
def empty_audio(ctx, duration, sample_rate, channels):
    samples = round(duration * sample_rate)
    return ({"waveform": np.zeros((1, channels, samples), np.float32), "sample_rate": sample_rate},), None


def _save_audio(ctx, audio: dict, prefix: str, kind: str) -> dict:
    folder, stem, counter, subfolder = media.output_path(prefix, ctx.directories[kind])
    name = f"{stem}_{counter:05}_.flac"
    media.save_flac(os.path.join(folder, name), audio)
    return {"audio": [{"filename": name, "subfolder": subfolder, "type": kind}]}


@node("SaveAudio")
def save_audio(ctx, audio, filename_prefix="audio/ComfyUI"):
    return (), _save_audio(ctx, audio, filename_prefix, "output")


@node("PreviewAudio")
def preview_audio(ctx, audio):
    suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
    return (), _save_audio(ctx, audio, f"ComfyUI_temp_{suffix}", "temp")


# ---------------------------------------------------------------------------- primitives & text
@node("PrimitiveString", "PrimitiveStringMultiline", "PrimitiveInt", "PrimitiveFloat", "PrimitiveBoolean")
def primitive(ctx, value):
    return (value,), None


@node("PreviewAny")
def preview_any(ctx, source=None):
    if isinstance(source, str):
        text = source
    elif isinstance(source, (int, float, bool)):
        text = str(source)
    else:
        try:
            text = json.dumps(source, indent=4)
        except Exception:
            text = str(source)
    return (), {"text": [text]}
