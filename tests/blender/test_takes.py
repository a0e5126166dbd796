"""Takes a filmmaker can choose, in real Blender against the reference ComfyUI server: exactly one take
of a shot is seen, switching is one operator call and one undo step, redo repeats the seed, a
variation picks a new one, and all of it survives saving and reopening the project from another folder."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import stat

import pytest
import stand_in_layout
from pump_driver import run_pump_until_idle

WIDTH, HEIGHT = 480, 272  # the scene: the draft model answers at 480x288


def module(addon, name):
    return importlib.import_module(f"{addon.__name__}.{name}")


def make_shot(addon, scene, name="Intro", start=1, length=17, prompt="a lighthouse at dusk, waves"):
    compat = module(addon, "sequencer.compat")
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = WIDTH, HEIGHT, 100
    scene.render.fps = 24
    strip = compat.new_color_strip(scene.sequence_editor, name, 1, start, length)
    strip.shotcaller.prompt = prompt
    strip.select = True
    scene.sequence_editor.active_strip = strip
    return strip


def drive(addon, strip):
    run_pump_until_idle(module(addon, "mainthread.pump"), describe=lambda: strip.shotcaller.message)
    assert strip.shotcaller.status == "DONE", strip.shotcaller.message


def take_strips(addon, scene, shot):
    takes = module(addon, "sequencer.takes")
    return [takes.take_strip(scene, shot, take) for take in shot.takes]


def seen(addon, scene, shot):
    """Indices of the takes not muted (exactly one when switching works)."""
    return [i for i, strip in enumerate(take_strips(addon, scene, shot)) if strip is not None and not strip.mute]


def three_takes(bpy, addon, scene):
    strip = make_shot(addon, scene)
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    drive(addon, strip)
    first_seed = strip.shotcaller.takes[0].seed
    assert bpy.ops.sequencer.shotcaller_redo() == {"FINISHED"}
    drive(addon, strip)
    assert bpy.ops.sequencer.shotcaller_variation() == {"FINISHED"}
    drive(addon, strip)
    shot = strip.shotcaller
    assert len(shot.takes) == 3
    assert shot.takes[1].seed == first_seed  # redo: the same seed
    assert shot.takes[2].seed != first_seed  # variation: a new one
    assert json.loads(shot.takes[2].parameters)["seed"] == shot.takes[2].seed
    assert shot.seed == first_seed  # a variation leaves the shot's own seed alone
    return strip


def test_redo_and_variation_make_takes_and_exactly_one_is_seen(addon, sequencer_scene, blender):
    bpy = blender
    strip = three_takes(bpy, addon, sequencer_scene)
    shot = strip.shotcaller
    assert shot.active_take == 2 and seen(addon, sequencer_scene, shot) == [2]  # the newest lands in the edit
    assert len({t.take_id for t in shot.takes}) == 3
    for take, placed in zip(shot.takes, take_strips(addon, sequencer_scene, shot), strict=True):
        assert placed.shotcaller.take_id == take.take_id and placed.shotcaller.take_of == shot.shot_id

    assert bpy.ops.sequencer.shotcaller_take_use(index=0) == {"FINISHED"}
    assert shot.active_take == 0 and seen(addon, sequencer_scene, shot) == [0]
    assert bpy.ops.sequencer.shotcaller_take_step(direction="NEXT") == {"FINISHED"}
    assert seen(addon, sequencer_scene, shot) == [1]
    assert bpy.ops.sequencer.shotcaller_take_step(direction="PREVIOUS") == {"FINISHED"}
    assert bpy.ops.sequencer.shotcaller_take_step(direction="PREVIOUS") == {"FINISHED"}  # wraps to the last
    assert seen(addon, sequencer_scene, shot) == [2]
    with pytest.raises(RuntimeError, match="There is no take 9"):
        bpy.ops.sequencer.shotcaller_take_use(index=8)

    # Each row of the takes list: which take is seen, and a jump and a reveal for that take.
    ui_list = module(addon, "panels.shot").SEQUENCER_UL_shotcaller_takes
    rows = []
    for index, take in enumerate(shot.takes):
        lines = []
        ui_list.draw_item(None, bpy.context, stand_in_layout.Layout(lines), shot, take, 0, shot, "active_take", index)
        rows.append(lines)
    assert [row[0].startswith(f"{i + 1}: comfyui") for i, row in enumerate(rows)] == [True] * 3
    assert all(
        "[sequencer.shotcaller_take_jump]" in row and "[sequencer.shotcaller_take_reveal]" in row for row in rows
    )

    # A selected take strip is about its shot: the operators act on that shot.
    sequencer_scene.sequence_editor.active_strip = take_strips(addon, sequencer_scene, shot)[0]
    assert bpy.ops.sequencer.shotcaller_take_use(index=1) == {"FINISHED"}
    assert seen(addon, sequencer_scene, shot) == [1]


def test_switching_is_one_undo_step(addon, sequencer_scene, blender):
    bpy = blender
    for name in ("SEQUENCER_OT_shotcaller_take_use", "SEQUENCER_OT_shotcaller_take_step"):
        assert "UNDO" in getattr(bpy.types, name).bl_options
    strip = make_shot(addon, sequencer_scene)
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    drive(addon, strip)
    assert bpy.ops.sequencer.shotcaller_variation() == {"FINISHED"}
    drive(addon, strip)
    name = strip.name
    bpy.ops.ed.undo_push(message="before switching")
    # undo=True: push the operator's undo step as the UI does (a script's call pushes none by default).
    assert bpy.ops.sequencer.shotcaller_take_use("EXEC_DEFAULT", True, index=0) == {"FINISHED"}
    assert seen(addon, bpy.context.scene, strip.shotcaller) == [0]
    assert bpy.ops.ed.undo() == {"FINISHED"}
    scene = bpy.context.scene  # undo reloads the scene's data: fetch it again
    shot = module(addon, "sequencer.compat").all_strips(scene.sequence_editor)[name].shotcaller
    assert shot.active_take == 1 and seen(addon, scene, shot) == [1]


def test_jump_reveal_and_delete_a_take(addon, sequencer_scene, blender, tmp_path):
    bpy = blender
    strip = make_shot(addon, sequencer_scene, start=30)
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    drive(addon, strip)
    assert bpy.ops.sequencer.shotcaller_variation() == {"FINISHED"}
    drive(addon, strip)
    shot = strip.shotcaller
    takes = module(addon, "sequencer.takes")
    first, second = (takes.absolute(t.filepath) for t in shot.takes)
    sequencer_scene.frame_current = 1
    assert bpy.ops.sequencer.shotcaller_take_jump(index=0) == {"FINISHED"}
    jumped = sequencer_scene.sequence_editor.active_strip
    assert jumped.shotcaller.take_id == shot.takes[0].take_id and jumped.select
    assert sequencer_scene.frame_current == 30  # the playhead moved into the take
    sequencer_scene.sequence_editor.active_strip = strip
    assert bpy.ops.sequencer.shotcaller_take_reveal(index=1) == {"FINISHED"}

    # Delete the active (second) take keeping its file: the first is seen again.
    assert bpy.ops.sequencer.shotcaller_take_delete(index=1) == {"FINISHED"}
    assert len(shot.takes) == 1 and shot.active_take == 0 and seen(addon, sequencer_scene, shot) == [0]
    assert os.path.isfile(second)
    # Delete the last one with its file.
    assert bpy.ops.sequencer.shotcaller_take_delete(index=0, delete_file=True) == {"FINISHED"}
    assert len(shot.takes) == 0 and shot.active_take == -1 and not os.path.exists(first)
    assert [s for s in module(addon, "sequencer.compat").all_strips(sequencer_scene.sequence_editor)] == [strip]


def test_new_shots_get_a_random_seed_and_the_lock_keeps_it(addon, sequencer_scene, blender):
    bpy = blender
    strip = make_shot(addon, sequencer_scene)
    shot = strip.shotcaller
    assert not shot.seed_locked and shot.seed == 0
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    drive(addon, strip)
    rolled = shot.seed
    assert shot.takes[0].seed == rolled and not shot.seed_locked
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}  # unlocked: a new seed
    drive(addon, strip)
    assert shot.takes[1].seed == shot.seed != rolled
    shot.seed_locked = True
    kept = shot.seed
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    drive(addon, strip)
    assert shot.seed == kept == shot.takes[2].seed
    shot.seed_locked = False
    shot.seed = 1234  # a seed typed by hand is one to keep
    assert shot.seed_locked


def test_takes_fill_the_frame_and_the_project_moves(addon, sequencer_scene, blender, tmp_path, shotcaller_addon):
    """Saved first, takes under the .blend's folder are stored `//`-relative, with normal permissions,
    switched takes stay switched, and the project opens from another folder with every take found."""
    bpy = blender
    project = tmp_path / "project"
    project.mkdir()
    prefs = bpy.context.preferences.addons[shotcaller_addon].preferences
    prefs.output_folder = "//takes"
    strip = make_shot(addon, sequencer_scene)
    bpy.ops.wm.save_as_mainfile(filepath=str(project / "film.blend"))
    scene = bpy.context.scene
    strip = module(addon, "sequencer.compat").all_strips(scene.sequence_editor)["Intro"]
    scene.sequence_editor.active_strip = strip
    strip.select = True
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    drive(addon, strip)
    assert bpy.ops.sequencer.shotcaller_variation() == {"FINISHED"}
    drive(addon, strip)
    assert bpy.ops.sequencer.shotcaller_take_use(index=0) == {"FINISHED"}
    shot = strip.shotcaller
    mask = os.umask(0o022)
    os.umask(mask)
    for take, placed in zip(shot.takes, take_strips(addon, scene, shot), strict=True):
        assert take.filepath.startswith("//takes") and take.record_path.startswith("//takes")
        assert placed.filepath.startswith("//takes")
        path = bpy.path.abspath(take.filepath)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask  # not 0600
        assert (take.frame_width, take.frame_height) == (WIDTH, HEIGHT)
        assert take.take_width > 0 and take.take_height > 0
        cover = max(WIDTH / take.take_width, HEIGHT / take.take_height)  # filled, cropped: never bars
        assert placed.transform.scale_x == pytest.approx(cover, rel=1e-3)
        assert placed.transform.scale_y == pytest.approx(cover, rel=1e-3)
    bpy.ops.wm.save_mainfile()

    moved = tmp_path / "moved"
    shutil.move(str(project), str(moved))
    bpy.ops.wm.open_mainfile(filepath=str(moved / "film.blend"))
    scene = bpy.context.scene
    strip = module(addon, "sequencer.compat").all_strips(scene.sequence_editor)["Intro"]
    shot = strip.shotcaller
    assert shot.active_take == 0 and seen(addon, scene, shot) == [0]
    for take, placed in zip(shot.takes, take_strips(addon, scene, shot), strict=True):
        for stored in (take.filepath, take.record_path, placed.filepath):
            found = bpy.path.abspath(stored)
            assert os.path.isfile(found) and found.startswith(str(moved)), stored
