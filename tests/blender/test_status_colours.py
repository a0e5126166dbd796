"""Status colours are painted together while jobs run (each colour change makes Blender 5 re-evaluate
the whole scene): at most once per PAINT_SECONDS, at once when forced, and
every waiting colour is painted once no work is left. Counted, never timed."""

from __future__ import annotations


def test_status_changes_are_painted_together(sequencer_scene, mods, monkeypatch):
    compat, colours = mods("sequencer.compat"), mods("sequencer.status_colours")
    submission, pump = mods("mainthread.submission"), mods("mainthread.pump")
    strips = [compat.new_color_strip(sequencer_scene.sequence_editor, f"Shot {i}", 1, 1 + 10 * i, 10) for i in range(5)]
    submission.ensure_shot_ids(sequencer_scene)
    colours.show_later(sequencer_scene, strips[0].shotcaller.shot_id)
    assert colours.paint_due(force=True) >= 1  # with whatever an earlier test left
    monkeypatch.setattr(colours, "PAINT_SECONDS", 3600.0)  # "just painted" for the rest of the test

    for strip in strips[:3]:
        strip.shotcaller.status = "RUNNING"
        colours.show_later(sequencer_scene, strip.shotcaller.shot_id)
    strips[1].name = "Renamed"  # found again by its shot id
    assert colours.waiting()
    assert colours.paint_due() == 0  # painted a moment ago: these wait
    assert [s.color_tag for s in strips[:3]] != ["COLOR_02"] * 3
    assert pump.tick() is None  # no work left: the tick painted them all, and the timer stops
    assert not colours.waiting()
    assert [s.color_tag for s in strips[:3]] == ["COLOR_02"] * 3

    strips[3].shotcaller.status = "FAILED"
    colours.show_later(sequencer_scene, strips[3].shotcaller.shot_id)
    compat.top_strips(sequencer_scene.sequence_editor).remove(strips[4])  # deleted: nothing to paint
    assert colours.paint_due(force=True) == 1
    assert strips[3].color_tag == "COLOR_01"


def test_what_a_submit_writes_does_not_make_blender_re_evaluate_the_scene(sequencer_scene, mods, blender):
    """Rolling a seed (a property with an update callback) and a waiting colour leave the scene as it
    is; painting the colour is the one change Blender re-evaluates. Updates counted by a handler."""
    compat, colours, props = mods("sequencer.compat"), mods("sequencer.status_colours"), mods("settings.properties")
    strip = compat.new_color_strip(sequencer_scene.sequence_editor, "Shot", 1, 1, 10)
    strip.shotcaller.shot_id = "shot0001aaaa"
    updates = []

    def count(_scene, _depsgraph):
        updates.append(1)

    view_layer = blender.context.view_layer
    view_layer.update()
    blender.app.handlers.depsgraph_update_post.append(count)
    try:
        props.roll_seed(strip.shotcaller, 1234)
        strip.shotcaller.status, strip.shotcaller.message, strip.shotcaller.progress = "QUEUED", "queued", 0.0
        colours.show_later(sequencer_scene, strip.shotcaller.shot_id)
        view_layer.update()
        assert updates == []
        assert strip.shotcaller.seed == 1234 and not strip.shotcaller.seed_locked  # rolled, not typed
        assert colours.paint_due(force=True) == 1
        view_layer.update()
        assert updates == [1] and strip.color_tag == "COLOR_03"
        strip.shotcaller.seed = 99  # typed by hand: locked
        assert strip.shotcaller.seed_locked
    finally:
        blender.app.handlers.depsgraph_update_post.remove(count)
