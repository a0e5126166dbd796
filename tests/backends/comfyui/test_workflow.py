"""A shot applied to a template, as the server receives it: snapped sizes and lengths, the init image
uploaded and bound, and every media kind's take from the reference ComfyUI server."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from comfyui_doubles import JSON, PNG, MiniComfy, Recorder, image_request, invert_template, wan_request
from comfyui_reference import reference_backend, shot_request, solid_png, step_fractions

from shotcaller.backends.comfyui import ComfyUIBackend
from shotcaller.shots import MediaKind, Quality


def test_init_image_is_uploaded_and_bound(stub, tmp_path: Path):
    info = {cls: {"input": {"required": {}}} for cls in ("LoadImage", "ImageInvert", "SaveImage")}
    comfy = MiniComfy(
        stub,
        object_info=info,
        outputs={"3": {"images": [{"filename": "still_00001_.png", "subfolder": "shotcaller", "type": "output"}]}},
    )
    stub.on("POST", "/upload/image", (200, {"name": "frame.png", "subfolder": "shotcaller", "type": "input"}, JSON))
    frame = tmp_path / "frame.png"
    frame.write_bytes(PNG)
    backend = ComfyUIBackend("stub", stub.url, [invert_template(tmp_path / "templates")], poll_interval=0.05)
    result = backend.run(image_request(tmp_path / "out", init_image=str(frame)), Recorder(), threading.Event())
    assert comfy.prompt["1"]["inputs"]["image"] == "shotcaller/frame.png"
    assert result.parameters["init_image"] == "shotcaller/frame.png"
    assert [os.path.basename(f) for f in result.files] == ["still.png"]


def test_snapped_values_reach_the_reference_server(reference, tmp_path: Path):
    av = pytest.importorskip("av")
    request = wan_request(tmp_path, width=70, height=50, frame_count=10, seed=99)
    result = reference_backend(reference).run(request, Recorder(), threading.Event())
    assert (result.parameters["width"], result.parameters["height"], result.parameters["frame_count"]) == (64, 64, 13)
    with av.open(result.files[0]) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 13  # never shorter than the 10 frames of the shot


@pytest.mark.parametrize(
    ("template", "quality", "sampler"), [("sdxl_base_t2i", Quality.DRAFT, "3"), ("flux1_dev_t2i", Quality.FINAL, "13")]
)
def test_image_takes_on_the_reference_server(reference, tmp_path: Path, template, quality, sampler):
    from PIL import Image

    from devservers.comfyui.drawing import seed_colour

    report = Recorder()
    request = shot_request(tmp_path, template, MediaKind.IMAGE, quality, width=100, height=60, seed=7)
    result = reference_backend(reference).run(request, report, threading.Event())
    [path] = result.files
    assert path == str(tmp_path / f"{template}.png")
    with Image.open(path) as image:
        # 100 x 60 snapped: to multiples of 8 for SDXL, of 16 for FLUX (halves round up).
        size = (104, 64) if template == "sdxl_base_t2i" else (96, 64)
        assert image.format == "PNG" and image.size == size
        pixels = image.convert("RGB")
        corner = pixels.getpixel((image.width - 2, 1))
        assert max(abs(a - b) for a, b in zip(corner, seed_colour(7), strict=True)) < 8
        assert len(np.unique(np.asarray(pixels).reshape(-1, 3), axis=0)) > 20  # the prompt is written on it
    assert len(step_fractions(report, sampler)) == 20  # SamplerCustomAdvanced reports its 20 steps too
    assert (result.parameters["width"], result.parameters["height"]) == size
    assert any(p.preview_image for p in report.updates)


@pytest.mark.parametrize("template", ["wan22_ti2v_5b_i2v", "wan22_14b_i2v"])
def test_image_to_video_uploads_the_init_image_under_the_name_the_server_gives(reference, tmp_path: Path, template):
    av = pytest.importorskip("av")
    # Another client's different file already has the name: the server renames this upload.
    taken = reference.input_dir / "shotcaller" / "harbour_start.png"
    taken.parent.mkdir(exist_ok=True)
    if not taken.exists():
        solid_png(taken, (0, 0, 0))
    colour = (30, 160, 220)
    init = solid_png(tmp_path / "harbour_start.png", colour)
    request = shot_request(tmp_path / "out", template, MediaKind.VIDEO, init_image=str(init), seed=12, height=64)
    result = reference_backend(reference).run(request, Recorder(), threading.Event())
    assert result.parameters["init_image"] == "shotcaller/harbour_start (1).png"
    assert (reference.input_dir / "shotcaller" / "harbour_start (1).png").read_bytes() == init.read_bytes()
    with av.open(result.files[0]) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 9 and frames[0].shape == (64, 64, 3)
    corner = frames[0][1, -2].astype(int)
    assert abs(corner - np.array(colour)).max() < 24  # the video starts from the uploaded image


def decoded_sound(path: str) -> tuple[int, int, np.ndarray]:
    av = pytest.importorskip("av")
    with av.open(path) as container:
        stream = container.streams.audio[0]
        rate, channels = stream.sample_rate, stream.channels
        chunks = [frame.to_ndarray() for frame in container.decode(audio=0)]
    samples = np.concatenate(chunks, axis=1).reshape(-1, channels)  # packed s16: interleaved channels
    return rate, channels, samples.astype(np.float32) / 32768.0


def test_sound_take_lasts_the_shot_and_its_pitch_comes_from_the_seed(reference, tmp_path: Path):
    from devservers.comfyui.sounds import tone_frequency

    # 30 frames at 16 fps = 1.875 s, rounded up to 1.9 s.
    request = shot_request(
        tmp_path, "stable_audio_open_t2a", MediaKind.AUDIO, frame_count=30, seed=19, prompt="a foghorn far away"
    )
    report = Recorder()
    result = reference_backend(reference).run(request, report, threading.Event())
    [path] = result.files
    assert path.endswith("stable_audio_open_t2a.flac") and result.parameters["duration"] == 1.9
    rate, channels, samples = decoded_sound(path)
    assert (rate, channels, len(samples)) == (44100, 2, round(1.9 * 44100))
    spectrum = np.abs(np.fft.rfft(samples[:, 0]))
    peak = np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))]
    assert abs(peak - tone_frequency(19)) < 2.0
    assert len(step_fractions(report, "3")) == 50 and not any(p.preview_image for p in report.updates)


def test_music_take_lasts_the_shot(reference, tmp_path: Path):
    request = shot_request(
        tmp_path,
        "ace_step_v1_t2m",
        MediaKind.MUSIC,
        Quality.FINAL,
        frame_count=48,
        fps=16.0,
        prompt="lo-fi piano, rain on the window",
    )
    result = reference_backend(reference).run(request, Recorder(), threading.Event())
    rate, channels, samples = decoded_sound(result.files[0])
    assert (rate, channels, len(samples) / rate) == (44100, 2, 3.0)
    assert float(np.abs(samples).max()) > 0.1  # not silence
    assert result.parameters["prompt"] == "lo-fi piano, rain on the window" and result.model == "ACE-Step v1 3.5B"
