"""The UI's first Generate of a session builds the session (every server's client and templates) and
opens the project's journal on a worker thread (mainthread/submission.py): the shots wait for the
pump's next ticks, and what goes wrong is reported after the operator has returned."""

from __future__ import annotations

import importlib

from pump_driver import run_pump_until_idle


def shots(addon, scene, count=2):  # type: ignore[no-untyped-def]
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    strips = [compat.new_color_strip(scene.sequence_editor, f"Shot {n}", 2, 1 + 10 * n, 9) for n in range(count)]
    for strip in strips:
        strip.shotcaller.prompt = "rain on a window"
    return strips


def submit_in_the_ui(addon, scene, strips):  # type: ignore[no-untyped-def]
    """submit_strips as the UI's operator calls it, after a fresh start (no session yet)."""
    importlib.import_module(f"{addon.__name__}.jobs.session").close_session()
    submission = importlib.import_module(f"{addon.__name__}.mainthread.submission")
    reports: list[tuple[str, str]] = []
    outcome = submission.submit_strips(
        scene,
        strips,
        "draft",
        budget_seconds=submission.SUBMIT_BUDGET_SECONDS,
        report_later=lambda *r: reports.append(r),
    )
    return outcome, reports


def test_the_first_submit_waits_for_the_session_opened_on_a_worker_thread(addon, sequencer_scene, blender):
    strips = shots(addon, sequencer_scene)
    outcome, reports = submit_in_the_ui(addon, sequencer_scene, strips)
    assert (outcome.submitted, outcome.waiting, outcome.problems) == ([], 2, [])
    # Its result is applied by a pump tick: nothing was submitted on the way back to the caller.
    assert [(s.shotcaller.status, s.shotcaller.job_id) for s in strips] == [("NONE", "")] * 2
    pump = importlib.import_module(f"{addon.__name__}.mainthread.pump")
    run_pump_until_idle(pump, describe=lambda: strips[0].shotcaller.message)
    assert [s.shotcaller.status for s in strips] == ["DONE", "DONE"], [s.shotcaller.message for s in strips]
    assert reports == []


def test_a_session_that_cannot_be_built_fails_the_waiting_shots_and_says_why(addon, sequencer_scene, blender):
    prefs = blender.context.preferences.addons[addon.__name__].preferences
    prefs.comfyui_url = "http://192.0.2.10:8188"  # not this machine, and online access is off
    blender.context.preferences.system.use_online_access = False
    strips = shots(addon, sequencer_scene)
    outcome, reports = submit_in_the_ui(addon, sequencer_scene, strips)
    assert outcome.waiting == 2
    run_pump_until_idle(importlib.import_module(f"{addon.__name__}.mainthread.pump"))
    assert [s.shotcaller.status for s in strips] == ["FAILED", "FAILED"]
    message = strips[0].shotcaller.message
    assert "192.0.2.10" in message and "online" in message.lower()
    assert reports == [("ERROR", message)]
