"""The shot id -> strip index in real Blender: right after renames, deletions, copies, metas and a
file load, and a full scan only when the strips changed (rescans are counted, never timed)."""

from __future__ import annotations


def make_shots(scene, compat, count):
    strips = [
        compat.new_color_strip(scene.sequence_editor, f"Shot {i:03d}", 1 + i % 20, 1 + 10 * i, 10) for i in range(count)
    ]
    return strips


def test_lookups_are_constant_time_until_the_strips_change(sequencer_scene, mods):
    compat, index, submission = mods("sequencer.compat"), mods("sequencer.index"), mods("mainthread.submission")
    strips = make_shots(sequencer_scene, compat, 60)
    submission.ensure_shot_ids(sequencer_scene)
    ids = {s.name: s.shotcaller.shot_id for s in strips}
    before = index.rebuilds
    for _ in range(3):
        for name, shot_id in ids.items():
            assert submission.find_shot_strip(sequencer_scene, shot_id).name == name
    assert index.rebuilds == before  # 180 lookups, no scan: ensure_shot_ids' own scan left the index current

    renamed = (
        sequencer_scene.sequence_editor.strips_all["Shot 007"]
        if hasattr(sequencer_scene.sequence_editor, "strips_all")
        else sequencer_scene.sequence_editor.sequences_all["Shot 007"]
    )
    renamed.name = "Harbour"
    assert submission.find_shot_strip(sequencer_scene, ids["Shot 007"]).name == "Harbour"
    assert index.rebuilds == before + 1

    gone = ids["Shot 010"]
    compat.top_strips(sequencer_scene.sequence_editor).remove(submission.find_shot_strip(sequencer_scene, gone))
    for _ in range(5):
        assert submission.find_shot_strip(sequencer_scene, gone) is None
    assert index.rebuilds == before + 2  # a deleted shot's late events do not rescan each
    assert submission.find_shot_strip(sequencer_scene, "no such id") is None
    assert index.rebuilds == before + 2

    # A take placed (the pump says so) adds a strip that names no shot: still no rescan.
    editor = sequencer_scene.sequence_editor
    strips_before = len(compat.all_strips(editor))
    take = compat.new_color_strip(editor, "Shot 003 take 1", 30, 1, 10)
    take.shotcaller.take_of = ids["Shot 003"]
    index.take_added(sequencer_scene, strips_before)
    assert submission.find_shot_strip(sequencer_scene, gone) is None
    assert submission.find_shot_strip(sequencer_scene, ids["Shot 003"]).name == "Shot 003"
    assert index.rebuilds == before + 2
    compat.new_color_strip(editor, "Added by hand", 31, 1, 10)  # not a take: the next miss rescans
    assert submission.find_shot_strip(sequencer_scene, gone) is None
    assert index.rebuilds == before + 3


def test_takes_copies_and_metas(sequencer_scene, mods):
    compat, submission = mods("sequencer.compat"), mods("mainthread.submission")
    editor = sequencer_scene.sequence_editor
    shot = compat.new_color_strip(editor, "Shot", 1, 1, 20)
    submission.ensure_shot_ids(sequencer_scene)
    shot_id = shot.shotcaller.shot_id
    take = compat.new_color_strip(editor, "Shot take 1", 2, 1, 20)
    take.shotcaller.shot_id, take.shotcaller.take_of = shot_id, shot_id
    assert submission.find_shot_strip(sequencer_scene, shot_id).name == "Shot"  # never the take

    copy = compat.new_color_strip(editor, "Shot copy", 3, 1, 20)
    copy.shotcaller.shot_id = shot_id  # what Shift+D does
    submission.ensure_shot_ids(sequencer_scene)  # the copy gets its own id, and the index hears of it
    assert copy.shotcaller.shot_id != shot_id
    assert submission.find_shot_strip(sequencer_scene, copy.shotcaller.shot_id).name == "Shot copy"
    assert submission.find_shot_strip(sequencer_scene, shot_id).name == "Shot"

    meta = compat.top_strips(editor).new_meta("Act", 5, 30)
    inner = compat.new_color_strip(meta, "Inside", 1, 30, 10)
    submission.ensure_shot_ids(sequencer_scene)
    assert submission.find_shot_strip(sequencer_scene, inner.shotcaller.shot_id).name == "Inside"


def test_right_after_a_file_load(sequencer_scene, mods, blender, tmp_path):
    compat, submission = mods("sequencer.compat"), mods("mainthread.submission")
    make_shots(sequencer_scene, compat, 5)
    submission.ensure_shot_ids(sequencer_scene)
    ids = {s.name: s.shotcaller.shot_id for s in compat.all_strips(sequencer_scene.sequence_editor)}
    assert submission.find_shot_strip(sequencer_scene, ids["Shot 002"]).name == "Shot 002"
    path = tmp_path / "a.blend"
    blender.ops.wm.save_as_mainfile(filepath=str(path))
    compat.all_strips(sequencer_scene.sequence_editor)["Shot 002"].name = "Renamed after saving"
    blender.ops.wm.open_mainfile(filepath=str(path))  # same scene name, new strip objects, the old name
    scene = blender.context.scene
    assert submission.find_shot_strip(scene, ids["Shot 002"]).name == "Shot 002"
    assert {submission.find_shot_strip(scene, i).name for i in ids.values()} == set(ids)


def test_a_take_goes_on_the_first_free_channel_above_its_shot(sequencer_scene, mods):
    compat, timeline = mods("sequencer.compat"), mods("sequencer.timeline")
    editor = sequencer_scene.sequence_editor
    shot = compat.new_color_strip(editor, "Shot", 2, 10, 20)
    compat.new_color_strip(editor, "Over", 3, 25, 20)  # overlaps the shot's end
    compat.new_color_strip(editor, "Beside", 4, 30, 20)  # starts where the shot ends: no overlap
    assert timeline.first_free_channel_above(editor, shot) == 4
    assert timeline.first_free_channel(editor, 100, 120) == 1
