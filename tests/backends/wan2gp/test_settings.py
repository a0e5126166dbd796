"""Wan2GP settings from a shot: the snapping tables, frames at the model's fps, and the settings sent."""

from __future__ import annotations

import pytest

from shotcaller.backends.wan2gp.models import MODELS, PIXELS_480P, PIXELS_720P, ModelLimits
from shotcaller.backends.wan2gp.presets import PRESETS
from shotcaller.backends.wan2gp.settings import (
    RESOLUTION_BUCKETS,
    build_settings,
    frames_for_duration,
    model_frame_count,
    snap_frame_count,
    snap_resolution,
    wan_seed,
)
from shotcaller.shots import make_spec

# The compact schema metadata Wan2GP 12.60 answered (capture 13_get_model_schema_ti2v_2_2).
TI2V_SCHEMA = {
    "model_type": "ti2v_2_2", "name": "Wan2.2 TextImage2video 5B", "main_output": ["video"],
    "media_inputs": {"image": {"start": True, "end": False}, "video": {"continue": True}},
    "fps": 24, "frames_minimum": 5, "frames_steps": 4, "sliding_window": True, "frames_maximum": 121,
}  # fmt: skip


def spec(**fields):
    fields.setdefault("shot_id", "shot-0001")
    fields.setdefault("prompt", "a lighthouse at dusk")
    return make_spec(**fields)


@pytest.mark.parametrize(
    ("size", "max_pixels", "expected"),
    [
        ((832, 480), PIXELS_720P, (832, 480)),  # a bucket stays itself
        ((1280, 720), PIXELS_720P, (1280, 720)),
        ((1920, 1080), PIXELS_720P, (1280, 720)),  # 16:9 capped at the model's 720p
        ((1920, 1080), None, (1920, 1088)),  # uncapped: the 1080p bucket
        ((1080, 1920), PIXELS_720P, (720, 1280)),  # portrait
        ((1280, 720), PIXELS_480P, (832, 480)),  # a 480p model never gets 720p
        ((1000, 1000), PIXELS_720P, (1024, 1024)),  # square: closest pixel count
        ((500, 500), PIXELS_720P, (512, 512)),
        ((640, 480), PIXELS_720P, (832, 624)),  # 4:3
        ((2048, 858), PIXELS_720P, (1280, 544)),  # 2.39:1 scope to the 21:9 bucket
        ((64, 64), PIXELS_720P, (320, 320)),  # tiny: the smallest square bucket
        ((1024, 576), PIXELS_720P, (960, 544)),  # 16:9 between buckets: closest pixel count
        ((16, 4096), PIXELS_720P, (544, 1280)),  # absurdly tall: the tallest shape under the cap
    ],
)
def test_resolution_snaps_to_wan2gp_buckets(size, max_pixels, expected):
    assert snap_resolution(*size, max_pixels) == expected
    assert expected in RESOLUTION_BUCKETS


def test_resolution_rejects_nonsense():
    with pytest.raises(ValueError):
        snap_resolution(0, 480)


@pytest.mark.parametrize(
    ("frames", "maximum", "expected"),
    [
        (1, None, 5), (5, None, 5), (6, None, 9), (8, None, 9), (9, None, 9), (48, None, 49), (49, None, 49),
        (50, None, 53), (81, None, 81), (120, 121, 121), (121, 121, 121), (122, 121, 121), (200, 97, 97),
        (98, 96, 93),  # a maximum off the lattice: the largest valid count below it
    ],
)  # fmt: skip
def test_frame_counts_snap_up_to_4n_plus_1(frames, maximum, expected):
    assert snap_frame_count(frames, 5, 4, maximum) == expected
    assert (expected - 1) % 4 == 0


def test_frames_follow_the_shot_duration_at_the_model_fps():
    assert frames_for_duration(49 / 24, 16) == 33  # 2.04 s at 16 fps
    assert frames_for_duration(2.0, 16) == 32
    assert frames_for_duration(2.0, 24) == 48  # float noise does not add a frame
    limits_16 = ModelLimits.from_schema(MODELS["t2v_2_2"], None)
    limits_24 = ModelLimits.from_schema(MODELS["ti2v_2_2"], TI2V_SCHEMA)
    assert model_frame_count(spec(fps=24, frame_count=49), limits_16) == (33, False)
    assert model_frame_count(spec(fps=24, frame_count=48), limits_24) == (49, False)  # rounded up, never shorter
    # 10 s: in sliding windows with the 14B (uncapped), capped at 97 with the 1.3B (no windows)
    assert model_frame_count(spec(fps=24, frame_count=240), limits_16) == (161, False)
    limits_13 = ModelLimits.from_schema(MODELS["t2v_1.3B"], None)
    assert model_frame_count(spec(fps=24, frame_count=240), limits_13) == (97, True)


def test_a_long_shot_runs_in_sliding_windows_in_one_job():
    limits = ModelLimits.from_schema(MODELS["ti2v_2_2"], TI2V_SCHEMA)
    source, applied = build_settings(spec(fps=24, frame_count=720), PRESETS["wan2gp_draft_5b"], limits)
    assert source["video_length"] == 721 and source["sliding_window_size"] == 121
    assert applied["windows"] == 6 and "frames_capped_from" not in applied
    short, _ = build_settings(spec(fps=24, frame_count=120), PRESETS["wan2gp_draft_5b"], limits)
    assert "sliding_window_size" not in short


def test_build_settings_for_a_draft_shot():
    shot = spec(width=1920, height=1080, fps=24, frame_count=49, seed=7, negative_prompt=" blurry ")
    limits = ModelLimits.from_schema(MODELS["ti2v_2_2"], TI2V_SCHEMA)
    source, applied = build_settings(shot, PRESETS["wan2gp_draft_5b"], limits)
    assert source == {
        "model_type": "ti2v_2_2", "prompt": "a lighthouse at dusk", "image_mode": 0, "resolution": "1280x720",
        "video_length": 49, "num_inference_steps": 20, "seed": 7, "repeat_generation": 1, "negative_prompt": "blurry",
    }  # fmt: skip
    assert applied["requested_size"] == "1920x1080" and (applied["width"], applied["height"]) == (1280, 720)
    assert applied["fps"] == 24.0 and applied["frame_count"] == 49 and "frames_capped_from" not in applied


def test_build_settings_with_an_init_image_and_a_long_shot():
    shot = spec(fps=24, frame_count=240, seed=2**40 + 5, init_image="/tmp/start.png")
    limits = ModelLimits.from_schema(MODELS["i2v_2_2"], None)
    source, applied = build_settings(shot, PRESETS["wan2gp_final_14b"], limits, image_start="visual:47df8b53120a")
    assert source["image_prompt_type"] == "S" and source["image_start"] == "visual:47df8b53120a"
    assert source["video_length"] == 161 and source["sliding_window_size"] == 97 and applied["windows"] == 2
    assert source["seed"] == wan_seed(2**40 + 5) == 5
    t2v = ModelLimits.from_schema(MODELS["t2v_1.3B"], None)
    source, applied = build_settings(shot, PRESETS["wan2gp_draft_1_3b"], t2v, image_start="visual:47df8b53120a")
    assert "image_start" not in source and applied["init_image_ignored"] is True
    assert source["resolution"] == "832x480"  # the 1.3B is a 480p model
    assert source["video_length"] == 97 and applied["frames_capped_from"] == 161  # no sliding windows
