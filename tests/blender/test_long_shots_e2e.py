"""Shots longer than one model run, end to end in real Blender against the reference ComfyUI server.

A 10 s and a 30 s shot (240 and 720 frames at 24 fps; the bundled Wan 2.2 TI2V 5B makes at most
121 frames a run) are made in segments through the sidebar's operator and through the headless
batch, and land as ONE take each: a meta strip over exactly the shot's frames. At every joint the
frames Blender renders are compared with the decoded segment frames: each continuing segment's
first frame (its start image, a repeat of the frame before) is not shown, and the step across the
joint is no bigger than the steps beside it.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import av
import numpy as np
import pytest
from pump_driver import run_pump_until_idle

REPO_ROOT = Path(__file__).resolve().parents[2]
SIZE, FPS = 64, 24
SHOTS = (("Ten", 1, 240, 2), ("Thirty", 301, 720, 6))  # name, first frame, frames, segments


def on_disk(path):
    """A strip's file as an absolute path: takes under the .blend's folder are stored "//"-relative."""
    import bpy

    return os.path.abspath(bpy.path.abspath(path))


def make_shots(scene, addon_module):
    compat = importlib.import_module(f"{addon_module.__name__}.sequencer.compat")
    scene.render.resolution_x = scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.frame_start, scene.frame_end = 1, 1100
    scene.view_settings.view_transform = "Standard"  # rendered pixels comparable with decoded ones
    for name, start, length, _ in SHOTS:
        strip = compat.new_color_strip(scene.sequence_editor, name, 2, start, length)
        strip.shotcaller.prompt = f"{name.lower()} seconds of a harbour at dawn"
        strip.shotcaller.seed = 7
        strip.select = True


def decode(path):
    with av.open(path) as container:
        return [f.to_ndarray(format="rgb24").astype(np.float32) for f in container.decode(video=0)]


def render(bpy, scene, frame, folder):
    scene.frame_set(frame)
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(folder / f"frame_{frame:05d}.png")
    bpy.ops.render.render(write_still=True, scene=scene.name)
    image = bpy.data.images.load(scene.render.filepath)
    try:
        pixels = np.array(image.pixels[:], np.float32).reshape(SIZE, SIZE, 4)[::-1, :, :3] * 255.0
    finally:
        bpy.data.images.remove(image)
    return pixels


def difference(a, b):
    return float(np.abs(a - b).mean())


def assert_one_take_per_shot(bpy, scene, addon_module, folder, check_frames=True):
    compat = importlib.import_module(f"{addon_module.__name__}.sequencer.compat")
    strips = {s.name: s for s in compat.all_strips(scene.sequence_editor)}
    for name, start, length, count in SHOTS:
        shot = strips[name].shotcaller
        assert shot.status == "DONE", (name, shot.message)
        assert len(shot.takes) == 1
        take = shot.takes[0]
        assert take.reason.startswith(f"{count} segments of 121 frames with Wan 2.2 TI2V 5B on ComfyUI ")
        meta = strips[take.strip_name]
        assert meta.type == "META" and meta.shotcaller.take_of == shot.shot_id
        assert (compat.left_handle(meta), compat.duration(meta)) == (start, length)  # exactly the shot
        parts = sorted(compat.top_strips(meta), key=compat.left_handle)
        assert len(parts) == count and all(p.type == "MOVIE" for p in parts)
        # The segments belong to the take: never shots of their own (no shot id, not in the Shots list).
        importlib.import_module(f"{addon_module.__name__}.mainthread.submission").ensure_shot_ids(scene)
        assert all(p.shotcaller.take_of == shot.shot_id and not p.shotcaller.shot_id for p in parts)
        listed = importlib.import_module(f"{addon_module.__name__}.operators.shots").scene_shots(scene)
        assert not {p.name for p in parts} & {s.name for s in listed}
        assert compat.left_handle(parts[0]) == start and compat.right_handle(parts[-1]) == start + length
        for before, after in itertools.pairwise(parts):
            assert compat.left_handle(after) == compat.right_handle(before)  # no gap, no overlap
            # its first frame repeats the one before: it is not shown
            assert compat.left_handle(after) - compat.content_start(after) == 1
        segments = json.loads(take.parameters)["segments"]
        assert [s["file"] for s in segments] == [on_disk(p.filepath) for p in parts]
        if not check_frames:
            continue
        for before, after, segment in zip(parts, parts[1:], segments[1:], strict=False):
            previous = decode(on_disk(before.filepath))
            following = decode(segment["file"])
            # It starts on the last frame before (only two encodings apart): the closest of all.
            closest = min(range(len(previous)), key=lambda i: difference(following[0], previous[i]))
            assert closest >= len(previous) - 2
            joint = compat.left_handle(after)
            shown = [render(bpy, scene, f, folder) for f in (joint - 2, joint - 1, joint, joint + 1)]
            expected = [previous[-2], previous[-1], following[1], following[2]]
            for rendered, decoded in zip(shown, expected, strict=True):
                assert difference(rendered, decoded) < 6.0  # what Blender shows is the planned frame
            # No jump: across the joint the picture changes by codec noise, far less than a segment changes.
            assert difference(shown[1], shown[2]) < 0.5 * difference(previous[0], previous[-1])


def test_sidebar_makes_long_shots_as_one_take_each(addon, sequencer_scene, blender, tmp_path):
    bpy = blender
    make_shots(sequencer_scene, addon)
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    run_pump_until_idle(importlib.import_module(f"{addon.__name__}.mainthread.pump"), timeout=300)
    assert_one_take_per_shot(bpy, sequencer_scene, addon, tmp_path)
    # Muting the take mutes every segment with it: it is one strip on the timeline.
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    take = next(s for s in compat.top_strips(sequencer_scene.sequence_editor) if s.type == "META")
    shown = render(bpy, sequencer_scene, compat.left_handle(take) + 5, tmp_path)
    take.mute = True
    assert difference(render(bpy, sequencer_scene, compat.left_handle(take) + 5, tmp_path), shown) > 5.0


def test_headless_batch_makes_long_shots_as_one_take_each(addon, sequencer_scene, blender, tmp_path, comfyui_url):
    bpy = blender
    make_shots(sequencer_scene, addon)
    film = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film))
    report = tmp_path / "report.json"
    batch = Path(addon.__file__).parent / "batch.py"
    command = [sys.executable, str(REPO_ROOT / "tools" / "blender_run.py"), str(film), str(batch), "--"]
    command += ["--quality", "draft", "--comfyui-url", comfyui_url, "--output-dir", str(tmp_path / "batch_takes")]
    command += ["--report", str(report), "--save"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 of 2 shot(s) got a take" in result.stdout
    shots = json.loads(report.read_text())["shots"]
    assert [len(s["take_files"]) for s in shots] == [2, 6]
    bpy.ops.wm.open_mainfile(filepath=str(film))
    assert_one_take_per_shot(bpy, bpy.context.scene, addon, tmp_path, check_frames=False)


# name, media, seconds, parts, crossfade frames: Stable Audio makes 47 s at most, ACE-Step 240 s
SOUNDS = (("Ambience", "audio", 60, 2, 0), ("Cue", "music", 300, 2, 48))


def make_sound_shots(scene, addon_module):
    compat = importlib.import_module(f"{addon_module.__name__}.sequencer.compat")
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    start = 1
    for name, media, seconds, _, _ in SOUNDS:
        strip = compat.new_color_strip(scene.sequence_editor, name, 2, start, seconds * FPS)
        strip.shotcaller.prompt = f"{name.lower()} of a harbour at dawn"
        strip.shotcaller.media = media
        start += seconds * FPS + 10


def sound_seconds(path):
    with av.open(path) as container:
        return float(container.duration) / 1e6


def assert_sound_takes(scene, addon_module):
    compat = importlib.import_module(f"{addon_module.__name__}.sequencer.compat")
    strips = {s.name: s for s in compat.all_strips(scene.sequence_editor)}
    for name, _, seconds, count, fade in SOUNDS:
        shot_strip = strips[name]
        shot = shot_strip.shotcaller
        assert shot.status == "DONE", (name, shot.message)
        take = shot.takes[0]
        assert take.reason.startswith(f"{count} parts of ")
        meta = strips[take.strip_name]
        assert meta.type == "META"
        assert (compat.left_handle(meta), compat.duration(meta)) == (compat.left_handle(shot_strip), seconds * FPS)
        parts = sorted(compat.top_strips(meta), key=compat.left_handle)
        assert len(parts) == count and all(p.type == "SOUND" for p in parts)
        assert compat.right_handle(parts[-1]) == compat.right_handle(meta)
        for before, after in itertools.pairwise(parts):
            assert compat.right_handle(before) - compat.left_handle(after) == fade  # music crossfades, sound butts
        for part in parts:
            assert sound_seconds(on_disk(part.sound.filepath)) * FPS >= compat.duration(part) - 1
        if fade:  # the crossfade's volume keys: the first part fades out as the second comes in
            first, second = parts
            begin, end = compat.left_handle(second), compat.right_handle(first)
            volumes = []
            for frame in (begin, (begin + end) // 2, end):
                scene.frame_set(frame)
                volumes.append((round(first.volume, 2), round(second.volume, 2)))
            assert volumes == [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)]


def test_long_sound_and_music_are_split_and_joined_as_one_take(addon, sequencer_scene, blender, tmp_path):
    bpy = blender
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    if not compat.HAS_AUDIO:
        pytest.skip("this bpy build has no Audaspace (the 4.2 wheel): sound strips cannot exist here")
    make_sound_shots(sequencer_scene, addon)
    for strip in compat.all_strips(sequencer_scene.sequence_editor):
        strip.select = True
    # Final: ACE-Step is a final template; Stable Audio, the only sound one, is used for it anyway.
    assert bpy.ops.sequencer.shotcaller_generate(quality="final") == {"FINISHED"}
    run_pump_until_idle(importlib.import_module(f"{addon.__name__}.mainthread.pump"), timeout=300)
    assert_sound_takes(sequencer_scene, addon)


def test_headless_batch_splits_long_sound(addon, sequencer_scene, blender, tmp_path, comfyui_url):
    bpy = blender
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    if not compat.HAS_AUDIO:
        pytest.skip("this bpy build has no Audaspace (the 4.2 wheel): sound strips cannot exist here")
    make_sound_shots(sequencer_scene, addon)
    film = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film))
    batch = Path(addon.__file__).parent / "batch.py"
    command = [sys.executable, str(REPO_ROOT / "tools" / "blender_run.py"), str(film), str(batch), "--"]
    command += ["--quality", "final", "--comfyui-url", comfyui_url, "--save"]
    command += ["--output-dir", str(tmp_path / "batch_takes")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 of 2 shot(s) got a take" in result.stdout
    bpy.ops.wm.open_mainfile(filepath=str(film))
    assert_sound_takes(bpy.context.scene, addon)


def post_fail_next(url, mode):
    request = urllib.request.Request(
        f"{url}/reference/fail-next", json.dumps({"mode": mode}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["fail_next"]


def server_prompts(url):
    with urllib.request.urlopen(f"{url}/history", timeout=10) as response:
        return len(json.load(response))


def test_a_failed_middle_segment_resumes_without_remaking_the_ones_before(
    addon, sequencer_scene, blender, tmp_path, comfyui_url
):
    """A 15 s shot is 3 segments; the server fails the second. Retry Failed makes segments 2 and 3 only."""
    bpy = blender
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    pump = importlib.import_module(f"{addon.__name__}.mainthread.pump")
    sequencer_scene.render.resolution_x = sequencer_scene.render.resolution_y = SIZE
    sequencer_scene.render.fps, sequencer_scene.render.fps_base = FPS, 1.0
    strip = compat.new_color_strip(sequencer_scene.sequence_editor, "Fifteen", 2, 1, 360)
    strip.shotcaller.prompt = "fifteen seconds of a harbour at dawn"
    strip.shotcaller.seed = 11
    strip.select = True
    assert post_fail_next(comfyui_url, "pass") == ["pass"]
    assert post_fail_next(comfyui_url, "error") == ["pass", "error"]
    before = server_prompts(comfyui_url)

    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    run_pump_until_idle(pump, timeout=300, describe=lambda: strip.shotcaller.message)
    shot = strip.shotcaller
    assert shot.status == "FAILED" and not len(shot.takes)
    assert "segment 2 of 3" in shot.message and "segment 1 is kept and a retry starts at segment 2" in shot.message
    kept = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".mp4", ".webm", ".mkv"))
    assert len(kept) == 1, kept  # segment 1 stays on disk
    first_segment = kept[0].read_bytes()
    assert server_prompts(comfyui_url) - before == 2  # segment 1, and segment 2 that failed

    assert bpy.ops.sequencer.shotcaller_retry_failed() == {"FINISHED"}
    run_pump_until_idle(pump, timeout=300, describe=lambda: strip.shotcaller.message)
    assert shot.status == "DONE", shot.message
    assert server_prompts(comfyui_url) - before == 4  # only segments 2 and 3 were made again
    assert len(shot.takes) == 1
    segments = json.loads(shot.takes[0].parameters)["segments"]
    assert len(segments) == 3 and Path(segments[0]["file"]).read_bytes() == first_segment
    meta = compat.all_strips(sequencer_scene.sequence_editor)[shot.takes[0].strip_name]
    assert (compat.left_handle(meta), compat.duration(meta)) == (1, 360)
