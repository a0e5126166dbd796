"""One shot from strip to take, end to end, in real Blender, against the reference ComfyUI server.

The UI path runs the operator and then drives `pump.tick` (the function the UI
timer calls; timers never fire headless). The headless path runs batch.py in a
separate Blender process exactly as `blender -b film.blend --python batch.py --` would.
"""

from __future__ import annotations

import gc
import importlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest
from blender_runs import batch_command
from pump_driver import run_pump_until_idle

SHOTS = (("Intro", 1, 25), ("Street", 26, 24), ("Door", 50, 20))  # name, first frame, length
WIDTH, HEIGHT, FPS = 96, 64, 24


def make_shots(bpy, scene, addon_module):
    compat = importlib.import_module(f"{addon_module.__name__}.sequencer.compat")
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    scene.render.resolution_percentage = 100
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    strips = []
    for name, start, length in SHOTS:
        strip = compat.new_color_strip(scene.sequence_editor, name, 2, start, length)
        strip.shotcaller.prompt = f"{name.lower()} at night, rain"
        strip.shotcaller.seed = start
        strip.select = True
        strips.append(strip)
    return strips


def drive_timer(addon_module, timeout=120.0):
    """Call the UI timer's function until it says it is idle, as Blender would."""
    run_pump_until_idle(importlib.import_module(f"{addon_module.__name__}.mainthread.pump"), timeout=timeout)


def video_facts(path):
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.width, stream.codec_context.height, frames, float(stream.average_rate)


def assert_takes_placed(scene, addon_module):
    compat = importlib.import_module(f"{addon_module.__name__}.sequencer.compat")
    strips = {s.name: s for s in compat.all_strips(scene.sequence_editor)}
    for name, start, length in SHOTS:
        shot = strips[name].shotcaller
        assert shot.status == "DONE", (name, shot.message)
        assert len(shot.takes) == 1
        take = shot.takes[0]
        movie = strips[take.strip_name]
        assert movie.type == "MOVIE"
        assert movie.shotcaller.take_of == shot.shot_id
        compat = addon_module.sequencer.compat
        assert (compat.left_handle(movie), compat.duration(movie)) == (start, length)
        assert movie.channel == 3  # first free channel above the shots on channel 2
        import bpy

        path = os.path.abspath(bpy.path.abspath(take.filepath))  # "//"-relative when under the .blend's folder
        assert os.path.isfile(path)
        width, height, frames, fps = video_facts(path)
        assert (width, height) == (WIDTH, HEIGHT)
        assert frames >= length and (frames - 1) % 4 == 0  # Wan lengths are 4n+1
        assert fps == pytest.approx(FPS)
        assert take.backend.startswith("comfyui")
        assert take.template == "wan22_ti2v_5b_t2v"
        assert "draft template for a draft shot" in take.reason
        assert json.loads(take.parameters)["seed"] == start
        record = json.loads(Path(bpy.path.abspath(take.record_path)).read_text())
        assert record["take"]["files"] == [path]


def test_operator_places_takes_and_they_survive_reopening(addon, sequencer_scene, blender, tmp_path):
    bpy = blender
    make_shots(bpy, sequencer_scene, addon)
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    # Blender's own objects are out of every later full collection's walk (jobs/collector.py).
    assert gc.get_freeze_count() > 0
    pump = importlib.import_module(f"{addon.__name__}.mainthread.pump")
    assert not bpy.app.timers.is_registered(pump.tick)  # headless: the caller drains
    drive_timer(addon)
    assert_takes_placed(sequencer_scene, addon)
    previews = importlib.import_module(f"{addon.__name__}.mainthread.previews")
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    shot_ids = [s.shotcaller.shot_id for s in compat.all_strips(sequencer_scene.sequence_editor) if s.type == "COLOR"]
    # The sampler's live frames were written off the main thread; nothing drew them (headless), so
    # none was swapped in until a panel asks for one: then the next drain shows it.
    assert previews.flush()
    assert all(previews.ready_path(shot_id) and os.path.isfile(previews.ready_path(shot_id)) for shot_id in shot_ids)
    assert not any(previews.has_preview(shot_id) for shot_id in shot_ids)
    previews.icon_id(shot_ids[0])
    pump.drain()
    assert previews.has_preview(shot_ids[0]) and not previews.has_preview(shot_ids[1])

    film = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film))
    bpy.ops.wm.open_mainfile(filepath=str(film))
    assert_takes_placed(bpy.context.scene, addon)


def test_headless_batch_generates_every_shot(addon, sequencer_scene, blender, tmp_path, comfyui_url):
    bpy = blender
    make_shots(bpy, sequencer_scene, addon)
    film = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film))
    report = tmp_path / "report.json"
    batch = Path(addon.__file__).parent / "batch.py"
    result = subprocess.run(
        batch_command(batch, film, comfyui_url, tmp_path / "batch_takes", report, "--save"),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 of 3 shot(s) got a take" in result.stdout
    # The batch's own Blender must leave the extension's wheels for every other session sharing the folder.
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    wheels = Path(os.environ["BLENDER_USER_EXTENSIONS"], ".local", "lib", python, "site-packages")
    assert list(wheels.glob("pydantic-*.dist-info")), "the batch removed the extension's bundled wheels"
    assert "[succeeded]" in result.stdout
    document = json.loads(report.read_text())
    assert [s["status"] for s in document["shots"]] == ["done"] * 3
    assert all(s["take_files"] and s["template"] == "wan22_ti2v_5b_t2v" for s in document["shots"])
    bpy.ops.wm.open_mainfile(filepath=str(film))
    assert_takes_placed(bpy.context.scene, addon)


def test_nothing_selected_and_empty_prompt_are_clear_errors(addon, sequencer_scene, blender):
    bpy = blender
    strips = make_shots(bpy, sequencer_scene, addon)
    for strip in strips:
        strip.select = False
    with pytest.raises(RuntimeError, match="No shot strip is selected"):
        bpy.ops.sequencer.shotcaller_generate(quality="draft")
    strips[0].select = True
    strips[0].shotcaller.prompt = "   "
    with pytest.raises(RuntimeError, match="prompt is empty"):
        bpy.ops.sequencer.shotcaller_generate(quality="draft")
    assert strips[0].shotcaller.status == "FAILED"


def test_strip_deleted_mid_job_keeps_the_take_on_disk(addon, sequencer_scene, blender, tmp_path, caplog):
    bpy = blender
    caplog.set_level(logging.WARNING)
    strips = make_shots(bpy, sequencer_scene, addon)
    for strip in strips[1:]:
        strip.select = False
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    name = strips[0].name
    compat.top_strips(sequencer_scene.sequence_editor).remove(strips[0])
    drive_timer(addon)
    movies = [s for s in compat.all_strips(sequencer_scene.sequence_editor) if s.type == "MOVIE"]
    assert movies == []
    kept = list((tmp_path / "takes").rglob("*.mp4"))
    records = list((tmp_path / "takes").rglob("*.take.json"))
    assert len(kept) == 1 and len(records) == 1
    assert json.loads(records[0].read_text())["take"]["files"] == [str(kept[0])]
    # Said where the user can find it: the movie itself, not only its record.
    said = [r.getMessage() for r in caplog.records if "while it was generating" in r.getMessage()]
    assert said == [f"'{name}' was deleted while it was generating; its take is kept: {kept[0]}"], said


def test_unreachable_server_fails_the_shot_with_what_to_do(addon, sequencer_scene, blender, shotcaller_addon):
    bpy = blender
    prefs = bpy.context.preferences.addons[shotcaller_addon].preferences
    prefs.comfyui_url = "http://127.0.0.1:9"  # discard port: nothing listens
    strips = make_shots(bpy, sequencer_scene, addon)
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    drive_timer(addon)
    for strip in strips:
        assert strip.shotcaller.status == "FAILED"
        assert "127.0.0.1:9" in strip.shotcaller.message
        assert "Is ComfyUI running" in strip.shotcaller.message
