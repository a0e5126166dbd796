"""Preferences a filmmaker understands, in real Blender: one list of servers (the old single ComfyUI URL
is its first entry), one "Jobs at once" per server, a Test button that checks a server in the
background and says what it found, and an address with a path or fragment reduced to its root."""

from __future__ import annotations

import importlib

import stand_in_layout
from pump_driver import run_pump_until_idle

DEAD_URL = "http://127.0.0.1:9"


def test_the_single_comfyui_url_is_the_first_entry_of_the_one_list(prefs):
    assert prefs.comfyui_url == "http://127.0.0.1:8188" and len(prefs.instances) == 0  # the default, not stored
    wan = prefs.instances.add()
    wan.kind, wan.url = "wan2gp", "http://127.0.0.1:7866/mcp/"
    prefs.comfyui_url = "http://127.0.0.1:8190"
    assert [(i.kind, i.url) for i in prefs.instances] == [
        ("comfyui", "http://127.0.0.1:8190"),
        ("wan2gp", "http://127.0.0.1:7866/mcp/"),
    ]
    prefs.jobs_per_server = 3  # the old name of the same server's one concurrency setting
    assert prefs.instances[0].slots == 3 and prefs.jobs_per_server == 3
    prefs.comfyui_url = "http://127.0.0.1:8191"
    assert len(prefs.instances) == 2 and prefs.instances[0].url == "http://127.0.0.1:8191"


def drive(shotcaller_addon):
    run_pump_until_idle(importlib.import_module(f"{shotcaller_addon}.mainthread.pump"))


def test_the_test_button_says_what_a_server_can_do_and_why_one_is_unreachable(
    prefs, blender, shotcaller_addon, comfyui_url
):
    bpy = blender
    good = prefs.instances.add()
    good.kind, good.name, good.url = "comfyui", "studio", comfyui_url
    dead = prefs.instances.add()
    dead.kind, dead.name, dead.url = "comfyui", "dead", DEAD_URL
    assert bpy.ops.preferences.shotcaller_instance_test(index=0) == {"FINISHED"}
    assert bpy.ops.preferences.shotcaller_instance_test(index=1) == {"FINISHED"}
    assert good.test_state == "RUNNING"  # in the background: the operator returned at once
    drive(shotcaller_addon)
    assert good.test_state == "OK", good.test_report
    assert f"reachable at {comfyui_url}" in good.test_report
    assert "ComfyUI" in good.test_report and "GB of video memory free" in good.test_report
    assert "Can run: " in good.test_report and "Wan 2.2 TI2V 5B" in good.test_report
    assert dead.test_state == "FAILED"
    assert "not reachable" in dead.test_report and "connection refused" in dead.test_report
    assert "--port 9" in dead.test_report  # the hint names the port actually used

    prefs.active_instance = 0
    preferences_class = type(prefs)
    shown = stand_in_layout.draw(
        preferences_class, bpy.context, instances=prefs.instances, active_instance=0, template_folder=""
    )
    assert "[preferences.shotcaller_instance_test]" in shown
    assert "Can run:" in shown  # the finding is drawn in the preferences, wrapped


def test_an_address_with_a_path_is_reduced_to_the_server_root(
    prefs, blender, shotcaller_addon, comfyui_url, sequencer_scene
):
    bpy = blender
    item = prefs.instances.add()
    item.kind, item.name, item.url = "comfyui", "browser", comfyui_url + "/#/"
    shown = stand_in_layout.draw(
        type(prefs), bpy.context, instances=prefs.instances, active_instance=0, template_folder=""
    )
    assert "'#/' was dropped" in " ".join(shown.split())
    compat = importlib.import_module(f"{shotcaller_addon}.sequencer.compat")
    strip = compat.new_color_strip(sequencer_scene.sequence_editor, "Sea", 1, 1, 9)
    strip.shotcaller.prompt, strip.shotcaller.media = "the sea", "image"
    strip.select = True
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    drive(shotcaller_addon)
    assert strip.shotcaller.status == "DONE", strip.shotcaller.message


def test_an_older_single_comfyui_url_becomes_the_first_server_once(prefs, shotcaller_addon):
    """Older versions stored the single URL and 'Jobs per server' apart from the list; their stored values
    outlive the properties that now alias the list's first ComfyUI, and become that entry once."""
    preferences = importlib.import_module(f"{shotcaller_addon}.settings.preferences")
    storage = prefs.bl_system_properties_get() if hasattr(prefs, "bl_system_properties_get") else prefs
    storage["comfyui_url"], storage["jobs_per_server"] = "http://127.0.0.1:8177", 2
    assert preferences.migrate_single_url(prefs)
    assert [(i.kind, i.url, i.slots) for i in prefs.instances] == [("comfyui", "http://127.0.0.1:8177", 2)]
    assert "comfyui_url" not in storage and not preferences.migrate_single_url(prefs)  # once
    prefs.instances.clear()
    assert not preferences.migrate_single_url(prefs) and len(prefs.instances) == 0  # removed stays removed
