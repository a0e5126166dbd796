"""A pool of two ComfyUI servers: a shot is rerouted when its server dies or runs out of memory,
and the shot's panel fields (status, routing reason, take provenance) say so."""

from __future__ import annotations

import importlib

import pytest
from pump_driver import run_pump_until_idle
from reference_servers import reference_server_process


def configure_pool(bpy, addon_module_name, urls, tmp_path):
    prefs = bpy.context.preferences.addons[addon_module_name].preferences
    prefs.instances.clear()
    for name, url in urls.items():
        item = prefs.instances.add()
        item.kind, item.name, item.url = "comfyui", name, url
    prefs.output_folder = str(tmp_path / "takes")
    return prefs


@pytest.fixture
def addon(shotcaller_addon, blender):
    module = importlib.import_module(shotcaller_addon)
    yield module
    importlib.import_module(f"{shotcaller_addon}.jobs.session").close_session()
    blender.context.preferences.addons[shotcaller_addon].preferences.instances.clear()


def one_shot(addon, scene, size=(64, 64)):
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    strip = compat.new_color_strip(scene.sequence_editor, "Storm", 1, 1, 9)
    strip.shotcaller.prompt = "a storm over the harbour"
    strip.select = True
    return strip


def pump_until_idle(addon, strip, on_tick=None, timeout=120.0):
    pump = importlib.import_module(f"{addon.__name__}.mainthread.pump")
    run_pump_until_idle(pump, timeout=timeout, on_tick=on_tick, describe=lambda: strip.shotcaller.message)


def test_out_of_memory_on_every_server_steps_settings_down_and_says_so(
    addon, sequencer_scene, blender, dev_python, tmp_path
):
    with (
        reference_server_process(dev_python, "comfyui", "--fail-next", "oom", "--step-seconds", "0.01") as box_a,
        reference_server_process(dev_python, "comfyui", "--fail-next", "oom", "--step-seconds", "0.01") as box_b,
    ):
        configure_pool(blender, addon.__name__, {"box-a": box_a.url, "box-b": box_b.url}, tmp_path)
        strip = one_shot(addon, sequencer_scene, size=(512, 384))  # room to step the resolution down
        assert blender.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
        pump_until_idle(addon, strip)
    shot = strip.shotcaller
    assert shot.status == "DONE", shot.message
    reason = shot.takes[0].reason
    assert "out of memory" in reason.lower() or "memory" in reason.lower(), reason
    assert "box-a" in reason and "box-b" in reason, reason
    assert "Settings changed" in shot.routing_reason or "Settings changed" in reason, (shot.routing_reason, reason)


def test_server_killed_mid_job_moves_the_shot_to_the_other_server(
    addon, sequencer_scene, blender, dev_python, tmp_path
):
    with (
        reference_server_process(dev_python, "comfyui", "--step-seconds", "0.3") as box_a,
        reference_server_process(dev_python, "comfyui", "--step-seconds", "0.3") as box_b,
    ):
        servers = {"box-a": box_a, "box-b": box_b}
        configure_pool(blender, addon.__name__, {name: s.url for name, s in servers.items()}, tmp_path)
        strip = one_shot(addon, sequencer_scene)
        assert blender.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
        killed: list[str] = []

        def kill_the_running_one():
            message = strip.shotcaller.message
            if killed or strip.shotcaller.status != "RUNNING" or "step" not in message:
                return
            for name, server in servers.items():
                if name in strip.shotcaller.routing_reason.split(":")[0] or f"'{name}'" in message:
                    server.kill()
                    killed.append(name)
                    return

        pump_until_idle(addon, strip, on_tick=kill_the_running_one)
    assert killed, "the job never reached the sampler"
    shot = strip.shotcaller
    assert shot.status == "DONE", shot.message
    survivor = ({"box-a", "box-b"} - set(killed)).pop()
    assert shot.takes[0].backend == f"comfyui '{survivor}'"
    assert killed[0] in shot.takes[0].reason, shot.takes[0].reason
