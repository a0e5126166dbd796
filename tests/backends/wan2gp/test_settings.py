"""Wan2GP settings from a shot: the snapping tables, the model per quality and VRAM, and the offers."""

from __future__ import annotations

import pytest

from shotcaller.backends.wan2gp import Wan2GPBackend, Wan2GPPreset
from shotcaller.backends.wan2gp.settings import (
    MODELS,
    PIXELS_480P,
    PIXELS_720P,
    PRESETS,
    RESOLUTION_BUCKETS,
    ModelLimits,
    build_settings,
    choose_presets,
    frames_for_duration,
    max_shot_frames,
    model_frame_count,
    snap_frame_count,
    snap_resolution,
    wan_seed,
)
from shotcaller.shots import Quality, make_spec

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


@pytest.mark.parametrize(
    ("model_type", "fps", "maximum", "start_image"),
    [("t2v_1.3B", 16, 97, False), ("t2v_2_2", 16, 97, False), ("ti2v_2_2", 24, 121, True), ("i2v_2_2", 16, 97, True)],
)
def test_model_table_matches_the_captured_schemas(model_type, fps, maximum, start_image):
    model = MODELS[model_type]
    assert (model.fps, model.frames_minimum, model.frames_steps, model.frames_maximum) == (fps, 5, 4, maximum)
    assert model.takes_start_image is start_image


def test_server_schema_wins_over_the_table_and_garbage_falls_back():
    odd = {**TI2V_SCHEMA, "fps": 30, "frames_maximum": 201, "media_inputs": {"image": {"start": False}}}
    limits = ModelLimits.from_schema(MODELS["ti2v_2_2"], odd)
    assert (limits.fps, limits.frames_maximum, limits.takes_start_image) == (30.0, 201, False)
    garbage = {"fps": "fast", "frames_minimum": -3, "frames_steps": True, "frames_maximum": None, "name": ""}
    limits = ModelLimits.from_schema(MODELS["t2v_2_2"], garbage)
    assert (limits.fps, limits.frames_minimum, limits.frames_steps, limits.frames_maximum) == (16.0, 5, 4, 97)
    assert limits.name == "Wan2.2 Text2video 14B"


@pytest.mark.parametrize(
    ("vram", "draft", "final"),
    [
        (None, "wan2gp_draft_5b", "wan2gp_final_14b"),  # unknown memory: the best tiers
        (24.0, "wan2gp_draft_5b", "wan2gp_final_14b"),
        (12.0, "wan2gp_draft_5b", "wan2gp_final_14b"),
        (8.0, "wan2gp_draft_5b", "wan2gp_final_5b"),
        (6.0, "wan2gp_draft_5b", "wan2gp_final_5b"),
        (4.0, "wan2gp_draft_1_3b", "wan2gp_final_1_3b"),
    ],
)
def test_model_by_quality_and_vram(vram, draft, final):
    chosen = {p.quality: p.name for p in choose_presets(vram)}
    assert chosen == {Quality.DRAFT: draft, Quality.FINAL: final}


def test_presets_pick_the_image_model_when_the_shot_has_an_init_image():
    final = PRESETS["wan2gp_final_14b"]
    assert final.model_for(spec()).model_type == "t2v_2_2"
    assert final.model_for(spec(init_image="/tmp/start.png")).model_type == "i2v_2_2"
    assert PRESETS["wan2gp_draft_5b"].model_for(spec(init_image="/tmp/start.png")).model_type == "ti2v_2_2"
    assert PRESETS["wan2gp_draft_1_3b"].model_for(spec(init_image="/tmp/start.png")).model_type == "t2v_1.3B"


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


def test_offers_carry_vram_and_length_for_the_router():
    offers = {o.name: o for o in Wan2GPBackend("w", "http://127.0.0.1:9/mcp/").offers()}
    assert set(offers) == {"wan2gp_draft_5b", "wan2gp_final_14b"}
    draft, final = offers["wan2gp_draft_5b"], offers["wan2gp_final_14b"]
    assert draft.quality is Quality.DRAFT and final.quality is Quality.FINAL
    assert final.model == "Wan2.2 Text2video 14B / Wan2.2 Image2video 14B"
    assert not draft.needs_init_image and not final.needs_init_image
    assert draft.max_frames == 121 and final.max_frames == 145  # 121 at 24 fps; 97 at 16 fps = 6.06 s of 24 fps
    assert max_shot_frames(PRESETS["wan2gp_final_14b"], 16) == 97
    assert final.estimate_vram_gb(1280, 720, 81) > final.estimate_vram_gb(832, 480, 49) > final.vram_gb
    small = {o.name for o in Wan2GPBackend("w", "http://127.0.0.1:9/mcp/", vram_gb=8).offers()}
    assert small == {"wan2gp_draft_5b", "wan2gp_final_5b"}
    pinned = Wan2GPBackend("w", "http://127.0.0.1:9/mcp/", presets=["wan2gp_final_1_3b"])
    assert [o.name for o in pinned.offers()] == ["wan2gp_final_1_3b"]
    assert pinned.max_concurrent == 1
    with pytest.raises(ValueError, match="unknown Wan2GP preset"):
        Wan2GPBackend("w", "http://127.0.0.1:9/mcp/", presets=["nope"])
    custom = Wan2GPPreset("ltx", "LTX", Quality.DRAFT, "ltx2_22B_distilled", None, steps=8)
    with pytest.raises(ValueError, match="uses ltx2_22B_distilled"):
        Wan2GPBackend("w", "http://127.0.0.1:9/mcp/", presets=[custom])
