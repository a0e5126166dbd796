"""Every media kind lands as the right strip type, through the bundled templates and the reference server."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import av
import pytest
from pump_driver import run_pump_until_idle

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_shot(bpy, scene, addon, media, quality="draft", init_image="", length=24, start=10):
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    pump = importlib.import_module(f"{addon.__name__}.mainthread.pump")
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 128, 64, 100
    scene.render.fps = 24
    strip = compat.new_color_strip(scene.sequence_editor, f"{media} shot", 1, start, length)
    strip.shotcaller.prompt = f"a {media} of waves on a beach"
    strip.shotcaller.media = media
    strip.shotcaller.init_image = init_image
    strip.select = True
    assert bpy.ops.sequencer.shotcaller_generate(quality=quality) == {"FINISHED"}
    run_pump_until_idle(pump, describe=lambda: strip.shotcaller.message)
    shot = strip.shotcaller
    assert shot.status == "DONE", shot.message
    placed = compat.all_strips(scene.sequence_editor)[shot.takes[0].strip_name]
    assert (compat.left_handle(placed), compat.duration(placed), placed.channel) == (start, length, 2)
    return shot, placed


def test_image_shot_becomes_an_image_strip(addon, sequencer_scene, blender):
    shot, placed = run_shot(blender, sequencer_scene, addon, "image")
    assert placed.type == "IMAGE"
    assert shot.takes[0].template == "sdxl_base_t2i"
    assert shot.takes[0].filepath.endswith(".png")


@pytest.mark.parametrize(
    ("media", "quality", "template"),
    [
        ("audio", "draft", "stable_audio_open_t2a"),
        ("music", "final", "ace_step_v1_t2m"),
    ],
)
def test_sound_shots_become_sound_strips(addon, sequencer_scene, blender, media, quality, template):
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    if not compat.HAS_AUDIO:
        pytest.skip("this bpy build has no Audaspace (the 4.2 wheel): sound strips cannot exist here")
    shot, placed = run_shot(blender, sequencer_scene, addon, media, quality)
    assert placed.type == "SOUND"
    assert shot.takes[0].template == template
    with av.open(shot.takes[0].filepath) as container:
        assert float(container.duration) / 1e6 >= 1.0  # 24 frames at 24 fps


def test_sound_shot_without_audio_support_is_refused_before_generating(addon, sequencer_scene, blender):
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    if compat.HAS_AUDIO:
        pytest.skip("this Blender has audio support")
    strip = compat.new_color_strip(sequencer_scene.sequence_editor, "music", 1, 1, 24)
    strip.shotcaller.prompt, strip.shotcaller.media, strip.select = "a waltz", "music", True
    with pytest.raises(RuntimeError, match="no audio support"):
        blender.ops.sequencer.shotcaller_generate(quality="final")
    assert strip.shotcaller.status == "FAILED"


def test_init_image_routes_to_image_to_video(addon, sequencer_scene, blender, tmp_path):
    first, _ = run_shot(blender, sequencer_scene, addon, "image")
    shot, placed = run_shot(blender, sequencer_scene, addon, "video", init_image=first.takes[0].filepath, start=100)
    assert placed.type == "MOVIE"
    assert shot.takes[0].template == "wan22_ti2v_5b_i2v"
    assert json.loads(shot.takes[0].parameters).get("init_image")


def test_missing_init_image_is_a_clear_error(addon, sequencer_scene, blender, tmp_path):
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    strip = compat.new_color_strip(sequencer_scene.sequence_editor, "i2v", 1, 1, 24)
    strip.shotcaller.prompt, strip.select = "a door opens", True
    strip.shotcaller.init_image = os.path.join(str(tmp_path), "nope.png")
    with pytest.raises(RuntimeError, match=r"init image .* does not exist"):
        blender.ops.sequencer.shotcaller_generate(quality="draft")
