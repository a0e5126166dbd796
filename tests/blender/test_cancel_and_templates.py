"""Cancelling from the sidebar ends a shot as cancelled (not failed), and a broken user template is
reported by file name without hiding the bundled ones."""

from __future__ import annotations

import importlib
import time

import pytest
from pump_driver import run_pump_until_idle
from reference_servers import reference_server_process


@pytest.fixture
def addon(shotcaller_addon, blender, tmp_path):
    prefs = blender.context.preferences.addons[shotcaller_addon].preferences
    prefs.output_folder = str(tmp_path / "takes")
    yield importlib.import_module(shotcaller_addon)
    importlib.import_module(f"{shotcaller_addon}.jobs.session").close_session()
    prefs.template_folder = ""


def shot(addon, scene, name="Harbour", start=1):
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 64, 100
    strip = compat.new_color_strip(scene.sequence_editor, name, 1, start, 9)
    strip.shotcaller.prompt, strip.select = "boats in fog", True
    return strip


def tick_until_a_step_runs(pump, strip, timeout: float = 60.0) -> None:
    """The UI timer, until the shot runs on the server and has reported a sampler step."""
    deadline = time.monotonic() + timeout
    while strip.shotcaller.status != "RUNNING" or "step" not in strip.shotcaller.message:
        pump.tick()
        assert time.monotonic() < deadline, strip.shotcaller.message
        time.sleep(0.02)


def test_cancel_while_running_ends_as_cancelled_and_the_server_stops(
    addon, sequencer_scene, blender, dev_python, tmp_path
):
    pump = importlib.import_module(f"{addon.__name__}.mainthread.pump")
    with reference_server_process(dev_python, "comfyui", "--step-seconds", "0.5") as server:
        blender.context.preferences.addons[addon.__name__].preferences.comfyui_url = server.url
        strip = shot(addon, sequencer_scene)
        assert blender.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
        tick_until_a_step_runs(pump, strip)
        assert blender.ops.sequencer.shotcaller_cancel() == {"FINISHED"}
        run_pump_until_idle(pump, describe=lambda: strip.shotcaller.message)
    assert strip.shotcaller.status == "CANCELLED", strip.shotcaller.message
    assert len(strip.shotcaller.takes) == 0
    assert not list((tmp_path / "takes").rglob("*.mp4"))


def test_cancel_with_nothing_running_is_refused(addon, sequencer_scene, blender, dev_python):
    with reference_server_process(dev_python, "comfyui", "--step-seconds", "0.01") as server:
        blender.context.preferences.addons[addon.__name__].preferences.comfyui_url = server.url
        shot(addon, sequencer_scene)
        assert blender.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
        run_pump_until_idle(importlib.import_module(f"{addon.__name__}.mainthread.pump"))
        assert blender.ops.sequencer.shotcaller_cancel() == {"CANCELLED"}  # only a warning: nothing to stop


def test_broken_user_template_is_named_and_bundled_ones_still_work(
    addon, sequencer_scene, blender, dev_python, tmp_path, capsys
):
    folder = tmp_path / "my_templates"
    folder.mkdir()
    (folder / "broken.binding.json").write_text('{"name": "broken", "workflow": "missing.json",')
    pump = importlib.import_module(f"{addon.__name__}.mainthread.pump")
    session = importlib.import_module(f"{addon.__name__}.jobs.session")
    with reference_server_process(dev_python, "comfyui", "--step-seconds", "0.01") as server:
        prefs = blender.context.preferences.addons[addon.__name__].preferences
        prefs.comfyui_url, prefs.template_folder = server.url, str(folder)
        strip = shot(addon, sequencer_scene)
        assert blender.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
        problems = session.current_session().problems()
        run_pump_until_idle(pump)
    assert any("broken.binding.json" in problem for problem in problems), problems
    assert strip.shotcaller.status == "DONE", strip.shotcaller.message
    assert "broken.binding.json" in capsys.readouterr().out  # the operator's warning report


def test_a_cancel_shows_at_once_and_the_next_generate_waits_for_the_server_then_lands(
    addon, sequencer_scene, blender, dev_python, tmp_path
):
    """Real ComfyUI finishes the node it is in after an interrupt: the shot says cancelled at once, and
    generating it again waits for the server instead of queueing behind the cancelled prompt."""
    import json
    import urllib.request

    pump = importlib.import_module(f"{addon.__name__}.mainthread.pump")
    lag = ("--step-seconds", "0.2", "--interrupt-lag-seconds", "3")
    with reference_server_process(dev_python, "comfyui", *lag) as server:
        blender.context.preferences.addons[addon.__name__].preferences.comfyui_url = server.url

        def queue() -> dict:
            with urllib.request.urlopen(server.url + "/queue", timeout=10) as answer:
                return json.loads(answer.read())

        strip = shot(addon, sequencer_scene)
        assert blender.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
        deadline = time.monotonic() + 60  # for the cancel and the generate after it too
        tick_until_a_step_runs(pump, strip)
        assert blender.ops.sequencer.shotcaller_cancel() == {"FINISHED"}
        while strip.shotcaller.status != "CANCELLED":
            pump.tick()
            assert time.monotonic() < deadline, strip.shotcaller.message
            time.sleep(0.02)
        assert queue()["queue_running"], "the cancel was shown only once the server had stopped"
        assert blender.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
        overlaps = 0
        while strip.shotcaller.status != "DONE":
            pump.tick()
            now = queue()
            overlaps += bool(now["queue_running"] and now["queue_pending"])  # sent behind the cancelled one
            assert strip.shotcaller.status != "FAILED", strip.shotcaller.message
            assert time.monotonic() < deadline + 60, strip.shotcaller.message
            time.sleep(0.05)
        run_pump_until_idle(pump, describe=lambda: strip.shotcaller.message)
    assert overlaps == 0
    assert strip.shotcaller.status == "DONE", strip.shotcaller.message
    assert len(strip.shotcaller.takes) == 1
