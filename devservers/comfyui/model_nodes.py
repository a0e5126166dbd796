"""The reference server's stand-ins for model nodes: loaders return handles, text encoders return
conditioning that carries its text, the samplers wait `step_seconds` per step while reporting
progress, and the decoders render frames or sounds that show what sampled them (nodes.py says more).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .drawing import FromStartImage, RenderedFrames, preview_image
from .frames import Frames
from .node_types import AudioLatent, Conditioning, Guider, Handle, Latent, Noise, Sigmas, node
from .sounds import AUDIO_SAMPLE_RATE, synth_music, synth_sound


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
            preview = preview_image(latent.width, latent.height, seed, text, step + 1, steps, ctx.preview_format)
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
    frames: Frames = RenderedFrames(
        samples.width, samples.height, samples.frames * samples.batch, seed, samples.text, samples.caption
    )
    if samples.start_image is not None and samples.start_image.count:
        # Image to video: the first frame is the start image, the others move away from it.
        frames = FromStartImage(frames, samples.start_image.frame(0))
    return (frames,), None


@node("VAEDecodeAudio")
def vae_decode_audio(ctx, samples, vae):
    if not isinstance(samples, AudioLatent):
        raise RuntimeError(f"VAEDecodeAudio cannot decode {samples}: it is not a sound latent")
    seed = samples.seed if samples.seed is not None else 0
    synth = synth_music if samples.kind == "music" else synth_sound
    waves = [synth(samples.seconds, seed + index, samples.text) for index in range(samples.batch)]
    return ({"waveform": np.stack(waves), "sample_rate": AUDIO_SAMPLE_RATE},), None
