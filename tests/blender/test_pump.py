"""The drain that places a take does nothing else (placing one costs Blender 8-10 ms by itself), in
real Blender against the reference ComfyUI server."""

from __future__ import annotations

import time


def test_a_take_is_placed_alone_at_the_start_of_its_drain(addon, sequencer_scene, blender, mods):
    bpy, compat = blender, mods("sequencer.compat")
    events_module, session_module, pump = mods("jobs.events"), mods("jobs.session"), mods("mainthread.pump")
    for n in range(3):
        strip = compat.new_color_strip(sequencer_scene.sequence_editor, f"Shot {n}", 2, 1 + 30 * n, 9)
        strip.shotcaller.prompt = f"shot {n}, rain on a window"
        strip.select = True
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    submission = mods("mainthread.submission")
    while submission.waiting():  # what the operator's slice left, as the timer's next ticks would
        submission.continue_submitting()
    session = session_module.current_session()

    def ended() -> int:
        with session.events.mutex:
            return sum(isinstance(e, events_module.TERMINAL_EVENTS) for e in session.events.queue)

    deadline = time.monotonic() + 120
    while ended() < 3:  # every job done before the first drain: their events all wait in one queue
        assert time.monotonic() < deadline, "the reference server did not finish the three shots"
        time.sleep(0.05)

    drains: list[list[object]] = []
    while not session.events.empty():
        drains.append([])
        pump.drain(session, budget_seconds=10.0, on_event=lambda event, _outcome: drains[-1].append(event))
    landing = [d for d in drains if any(isinstance(e, events_module.JobSucceeded) for e in d)]
    assert len(landing) == 3
    assert all(len(d) == 1 for d in landing)  # the take alone; what came before it had a drain of its own
    assert len(drains) > 3  # progress and routing came first, in drains that placed nothing
    shots = [s for s in compat.all_strips(sequencer_scene.sequence_editor) if s.type == "COLOR"]
    assert all(s.shotcaller.status == "DONE" and len(s.shotcaller.takes) == 1 for s in shots)
