"""Node implementations of the reference server.

Nodes that need no model weights do their real work (EmptyImage, ImageScale, SaveImage, SaveVideo,
...). Model nodes are stand-ins: loaders return handles, text encoders return conditioning that
carries its text, the samplers (KSampler, KSamplerAdvanced, SamplerCustomAdvanced) wait
`step_seconds` per step while reporting progress, VAEDecode renders frames that show the positive
prompt, the seed and the frame number (over the start image, for image-to-video latents), and
VAEDecodeAudio renders a real sound of the latent's length: a tone whose pitch comes from the seed
(Stable Audio's latent) or a short arpeggio in a key from the seed (ACE-Step's latent).

The stand-ins cover every node of the bundled templates: Wan 2.2 TI2V 5B and 14B (text and image to
video), SDXL and FLUX.1 dev (text to image), Stable Audio Open (sound) and ACE-Step (music).

A node is `fn(ctx, **inputs) -> (outputs tuple, ui dict | None)`. Nodes of the catalogue that are
not implemented here are refused at validation, with a message saying so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from . import media


@dataclass
class Handle:
    """MODEL / CLIP / VAE stand-in."""

    kind: str
    name: str
    details: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"<{self.kind} {self.name}>"


@dataclass
class Conditioning:
    text: str
    details: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"<CONDITIONING {self.text[:40]!r}>"


@dataclass
class Guider:
    """GUIDER stand-in (BasicGuider, CFGGuider): the model and the conditioning it samples with."""

    model: Any
    positive: Any
    negative: Any = None

    def __str__(self) -> str:
        return f"<GUIDER {getattr(self.positive, 'text', '')[:40]!r}>"


@dataclass
class Sigmas:
    """SIGMAS stand-in: only how many steps they make."""

    steps: int

    def __str__(self) -> str:
        return f"<SIGMAS {self.steps} steps>"


@dataclass
class Noise:
    seed: int

    def __str__(self) -> str:
        return f"<NOISE seed {self.seed}>"


@dataclass
class Latent:
    """A LATENT stand-in: the pixel size and frame count it decodes to, plus what sampled it."""

    width: int
    height: int
    frames: int
    batch: int
    seed: int | None = None
    text: str = ""
    negative: str = ""
    caption: str = ""
    start_image: Any = None  # IMAGE frames of an image-to-video latent

    def __str__(self) -> str:
        return f"<LATENT {self.batch}x{self.frames}x{self.height}x{self.width}>"


@dataclass
class AudioLatent:
    """A LATENT stand-in for sound: seconds of `kind` ("sound": Stable Audio, "music": ACE-Step)."""

    seconds: float
    batch: int
    kind: str
    seed: int | None = None
    text: str = ""
    negative: str = ""
    caption: str = ""

    def __str__(self) -> str:
        return f"<LATENT {self.kind} {self.batch}x{self.seconds:g}s>"


@dataclass
class Video:
    frames: media.Frames
    fps: float
    audio: dict | None = None

    def __str__(self) -> str:
        return f"<VIDEO {self.frames.count} frames {self.frames.width}x{self.frames.height} @ {self.fps}>"


class OutOfMemoryError(RuntimeError):
    """Reported as `torch.OutOfMemoryError`, like the real CUDA allocation failure."""


OutOfMemoryError.__module__ = "torch"
OutOfMemoryError.__qualname__ = "OutOfMemoryError"

NodeResult = tuple[tuple, dict | None]
NODES: dict[str, Callable[..., NodeResult]] = {}
SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustomAdvanced", "SamplerCustom"}


def node(*names: str):
    def register(fn):
        for name in names:
            NODES[name] = fn
        return fn

    return register


def file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resolve_input_file(ctx, name: str) -> str:
    from .validation import split_annotation

    name, kind = split_annotation(name)
    return os.path.join(ctx.directories[kind or "input"], name)


def is_changed(ctx, class_type: str, inputs: dict) -> Any:
    """Extra cache-key part: file-loading nodes re-run when the file content changes."""
    key = {"LoadImage": "image", "LoadImageMask": "image", "LoadAudio": "audio", "LoadVideo": "file"}.get(class_type)
    if key and isinstance(inputs.get(key), str):
        path = _resolve_input_file(ctx, inputs[key])
        return file_hash(path) if os.path.isfile(path) else None
    return None


# ---------------------------------------------------------------------------- loaders & model stand-ins
@node("UNETLoader")
def unet_loader(ctx, unet_name, weight_dtype="default"):
    return (Handle("MODEL", unet_name, {"weight_dtype": weight_dtype}),), None


@node("CLIPLoader")
def clip_loader(ctx, clip_name, type="stable_diffusion", device="default"):
    return (Handle("CLIP", clip_name, {"type": type}),), None


@node("DualCLIPLoader")
def dual_clip_loader(ctx, clip_name1, clip_name2, type="flux", device="default"):
    return (Handle("CLIP", f"{clip_name1}+{clip_name2}", {"type": type}),), None


@node("VAELoader")
def vae_loader(ctx, vae_name):
    return (Handle("VAE", vae_name),), None


@node("CheckpointLoaderSimple")
def checkpoint_loader(ctx, ckpt_name):
    return (Handle("MODEL", ckpt_name), Handle("CLIP", ckpt_name), Handle("VAE", ckpt_name)), None


@node("LoraLoader")
def lora_loader(ctx, model, clip, lora_name, strength_model=1.0, strength_clip=1.0):
    loras = [*model.details.get("loras", []), lora_name]
    return (Handle("MODEL", model.name, {**model.details, "loras": loras}), clip), None


@node("LoraLoaderModelOnly")
def lora_loader_model_only(ctx, model, lora_name, strength_model=1.0):
    return lora_loader(ctx, model, None, lora_name)[0][:1], None


@node("ModelSamplingSD3", "ModelSamplingFlux", "ModelSamplingAuraFlow", "ModelSamplingDiscrete")
def model_sampling(ctx, model, **settings):
    return (Handle("MODEL", model.name, {**model.details, **settings}),), None


@node("LatentApplyOperationCFG")
def latent_apply_operation_cfg(ctx, model, operation):
    return (Handle("MODEL", model.name, {**model.details, "cfg_operation": str(operation)}),), None


@node("LatentOperationTonemapReinhard")
def latent_operation_tonemap(ctx, multiplier=1.0):
    return (Handle("LATENT_OPERATION", "tonemap_reinhard", {"multiplier": multiplier}),), None


@node("CLIPTextEncode")
def clip_text_encode(ctx, clip, text):
    return (Conditioning(text),), None


@node("TextEncodeAceStepAudio")
def text_encode_ace_step(ctx, clip, tags, lyrics, lyrics_strength=1.0):
    return (Conditioning(tags, {"lyrics": lyrics, "lyrics_strength": lyrics_strength}),), None


@node("FluxGuidance")
def flux_guidance(ctx, conditioning, guidance):
    return (Conditioning(conditioning.text, {**conditioning.details, "guidance": guidance}),), None


@node("ConditioningZeroOut")
def conditioning_zero_out(ctx, conditioning):
    return (Conditioning("", {"zeroed": True}),), None


@node("ConditioningStableAudio")
def conditioning_stable_audio(ctx, positive, negative, seconds_start, seconds_total):
    timing = {"seconds_start": seconds_start, "seconds_total": seconds_total}
    return (
        Conditioning(positive.text, {**positive.details, **timing}),
        Conditioning(negative.text, {**negative.details, **timing}),
    ), None


@node("Wan22ImageToVideoLatent")
def wan22_latent(ctx, vae, width, height, length, batch_size, start_image=None):
    # Wan 2.2 VAE: 16x spatial and 4x temporal compression (decodes to 4n+1 frames).
    latent = Latent(width // 16 * 16, height // 16 * 16, (length - 1) // 4 * 4 + 1, batch_size, start_image=start_image)
    return (latent,), None


@node("WanImageToVideo")
def wan_image_to_video(
    ctx, positive, negative, vae, width, height, length, batch_size, clip_vision_output=None, start_image=None
):
    # Wan 2.1 VAE (used by Wan 2.2 14B): 8x spatial and 4x temporal compression.
    latent = Latent(width // 8 * 8, height // 8 * 8, (length - 1) // 4 * 4 + 1, batch_size, start_image=start_image)
    return (positive, negative, latent), None


@node("EmptyHunyuanLatentVideo")
def empty_video_latent(ctx, width, height, length, batch_size):
    return (Latent(width // 8 * 8, height // 8 * 8, (length - 1) // 4 * 4 + 1, batch_size),), None


@node("EmptyLatentImage", "EmptySD3LatentImage")
def empty_latent_image(ctx, width, height, batch_size):
    return (Latent(width // 8 * 8, height // 8 * 8, 1, batch_size),), None


@node("EmptyLatentAudio")
def empty_latent_audio(ctx, seconds, batch_size):
    return (AudioLatent(seconds, batch_size, "sound"),), None


@node("EmptyAceStepLatentAudio")
def empty_ace_step_latent_audio(ctx, seconds, batch_size):
    return (AudioLatent(seconds, batch_size, "music"),), None


def _sample(ctx, latent: Latent | AudioLatent, seed: int, steps: int, positive, negative, label: str):
    text = getattr(positive, "text", str(positive))
    if isinstance(latent, Latent) and latent.seed is not None and latent.text:
        text = latent.text  # a second sampler (Wan 2.2 14B low noise) refines what the first made
    for step in range(steps):
        ctx.sleep(ctx.step_seconds)
        preview = None
        # Sound latents have no preview (the real latent previewers know no audio format).
        if isinstance(latent, Latent) and ctx.wants_preview():
            preview = media.preview_image(latent.width, latent.height, seed, text, step + 1, steps, ctx.preview_format)
        ctx.progress(step + 1, steps, preview)
        if step == 0:
            ctx.failure_point()
        if step + 1 < steps:
            ctx.check_interrupt()
    caption = f"seed {seed} - {steps} steps - {label}"
    return dataclasses.replace(latent, seed=seed, text=text, negative=getattr(negative, "text", ""), caption=caption)


@node("KSampler")
def ksampler(ctx, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise=1.0):
    return (_sample(ctx, latent_image, seed, steps, positive, negative, f"{sampler_name}/{scheduler} cfg {cfg}"),), None


@node("KSamplerAdvanced")
def ksampler_advanced(
    ctx,
    model,
    add_noise,
    noise_seed,
    steps,
    cfg,
    sampler_name,
    scheduler,
    positive,
    negative,
    latent_image,
    start_at_step,
    end_at_step,
    return_with_leftover_noise,
):
    count = max(0, min(steps, end_at_step) - start_at_step)
    seed = noise_seed
    if add_noise == "disable" and latent_image.seed is not None:
        seed = latent_image.seed  # no new noise: the picture is the one the first sampler seeded
    label = f"{sampler_name}/{scheduler} steps {start_at_step}-{min(steps, end_at_step)}"
    return (_sample(ctx, latent_image, seed, count, positive, negative, label),), None


@node("RandomNoise")
def random_noise(ctx, noise_seed):
    return (Noise(noise_seed),), None


@node("KSamplerSelect")
def ksampler_select(ctx, sampler_name):
    return (Handle("SAMPLER", sampler_name),), None


@node("BasicScheduler")
def basic_scheduler(ctx, model, scheduler, steps, denoise):
    return (Sigmas(steps),), None


@node("BasicGuider")
def basic_guider(ctx, model, conditioning):
    return (Guider(model, conditioning),), None


@node("CFGGuider")
def cfg_guider(ctx, model, positive, negative, cfg):
    return (Guider(model, positive, negative),), None


@node("SamplerCustomAdvanced")
def sampler_custom_advanced(ctx, noise, guider, sampler, sigmas, latent_image):
    latent = _sample(
        ctx,
        latent_image,
        noise.seed,
        sigmas.steps,
        guider.positive,
        guider.negative,
        f"{sampler.name} {sigmas.steps} sigmas",
    )
    return (latent, latent), None


@node("VAEDecode")
def vae_decode(ctx, samples, vae):
    if not isinstance(samples, Latent):
        raise RuntimeError(f"VAEDecode cannot decode {samples}: use VAEDecodeAudio for sound latents")
    seed = samples.seed if samples.seed is not None else 0
    frames: media.Frames = media.RenderedFrames(
        samples.width, samples.height, samples.frames * samples.batch, seed, samples.text, samples.caption
    )
    if samples.start_image is not None and samples.start_image.count:
        # Image to video: the first frame is the start image, the others move away from it.
        frames = media.FromStartImage(frames, samples.start_image.frame(0))
    return (frames,), None


@node("VAEDecodeAudio")
def vae_decode_audio(ctx, samples, vae):
    if not isinstance(samples, AudioLatent):
        raise RuntimeError(f"VAEDecodeAudio cannot decode {samples}: it is not a sound latent")
    seed = samples.seed if samples.seed is not None else 0
    synth = media.synth_music if samples.kind == "music" else media.synth_sound
    waves = [synth(samples.seconds, seed + index, samples.text) for index in range(samples.batch)]
    return ({"waveform": np.stack(waves), "sample_rate": media.AUDIO_SAMPLE_RATE},), None


# ---------------------------------------------------------------------------- images
@node("EmptyImage")
def empty_image(ctx, width, height, batch_size=1, color=0):
    rgb = ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF)
    return (media.SolidFrames(width, height, batch_size, rgb),), None


@node("LoadImage")
def load_image(ctx, image):
    frames, mask = media.load_image_file(_resolve_input_file(ctx, image))
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
    return (media.SolidFrames(int(width), int(height), int(n), rgb),), None


@node("ImageFromBatch")
def image_from_batch(ctx, image, batch_index, length):
    # As ComfyUI's: an index past the batch gives its last frame, a length past it what is left.
    start = min(image.count - 1, int(batch_index))
    count = min(image.count - start, int(length))
    return (media.SliceFrames(image, list(range(start, start + count))),), None


@node("ImageInvert")
def image_invert(ctx, image):
    return (media.MappedFrames(image, lambda f: 255 - f, image.width, image.height),), None


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

    return (media.MappedFrames(image, scale, width, height),), None


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
