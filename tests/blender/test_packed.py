"""A take's details are one stored value on its strip (Blender copies every stored value of every
strip on each scene update), still ordinary properties to read and write, in real Blender; a take
saved by a version that stored them one by one still reads."""

from __future__ import annotations

import importlib


def stored(group):
    storage = group.bl_system_properties_get() if hasattr(group, "bl_system_properties_get") else group
    return set(storage.keys()) if storage is not None else set()


def new_take(scene, shotcaller_addon):
    compat = importlib.import_module(f"{shotcaller_addon}.sequencer.compat")
    strip = compat.new_color_strip(scene.sequence_editor, "Shot", 1, 1, 10)
    return strip.shotcaller.takes.add()


def test_the_details_are_one_stored_value_and_read_back_as_written(sequencer_scene, shotcaller_addon):
    packed = importlib.import_module(f"{shotcaller_addon}.settings.packed")
    take = new_take(sequencer_scene, shotcaller_addon)
    take.take_id, take.reason, take.seed, take.cost = "t1", "the only server with the model", 42, 0.25
    packed.pack(take, take_width=480, take_height=288, frame_width=480, frame_height=272, model="wan-14b")
    assert (take.reason, take.seed, take.cost, take.model) == ("the only server with the model", 42, 0.25, "wan-14b")
    assert (take.take_width, take.frame_height, take.quality) == (480, 272, "")  # never written: its default
    assert stored(take) == {"take_id", "packed"}


def test_a_take_stored_one_value_at_a_time_still_reads(sequencer_scene, shotcaller_addon):
    take = new_take(sequencer_scene, shotcaller_addon)
    storage = take.bl_system_properties_get(do_create=True) if hasattr(take, "bl_system_properties_get") else take
    storage["reason"], storage["seed"], storage["generation_seconds"] = (
        "older file",
        7,
        3.5,
    )  # as an old version saved it
    assert (take.reason, take.seed, take.generation_seconds) == ("older file", 7, 3.5)
    take.reason = "written again"  # now packed; the untouched ones still come from the old values
    assert (take.reason, take.seed) == ("written again", 7)


def test_a_shot_keeps_where_its_last_job_went_and_why_in_one_stored_value(sequencer_scene, shotcaller_addon):
    compat = importlib.import_module(f"{shotcaller_addon}.sequencer.compat")
    shot = compat.new_color_strip(sequencer_scene.sequence_editor, "Shot", 1, 1, 10).shotcaller
    shot.prompt, shot.status, shot.message = "a lighthouse", "RUNNING", "generating on local"
    shot.routing_reason, shot.backend_used, shot.candidates = "the only server with the model", "local with wan", "[]"
    assert (shot.routing_reason, shot.backend_used, shot.candidates, shot.hint) == (
        "the only server with the model",
        "local with wan",
        "[]",
        "",
    )
    assert stored(shot) == {"prompt", "status", "message", "packed"}
