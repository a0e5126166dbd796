"""A representative attack of tests/hostile_servers.py in real Blender: a server that answers the
take's download with a web page (status 200) fails the shot with a message quoting it, and no
take, strip or file is made of it.

The hostile server stands in front of the session's reference ComfyUI server and forwards every
request but the one it attacks, so the rest of the exchange is genuine.
"""

from __future__ import annotations

import importlib
import os

from hostile_servers import ATTACKS, HostileServer
from pump_driver import run_pump_until_idle


def test_a_web_page_sent_for_the_take_fails_the_shot_and_keeps_nothing(
    addon, sequencer_scene, blender, comfyui_url, tmp_path
):
    bpy = blender
    hostile = HostileServer()
    hostile.upstream = comfyui_url
    hostile.on("GET", "/view", next(a for a in ATTACKS if a.name == "html-as-media"))
    hostile.on("GET", "/ws", (404, "text/plain", b"no event stream here"))  # the job is followed by polling
    try:
        bpy.context.preferences.addons[addon.__name__].preferences.comfyui_url = hostile.url
        compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
        sequencer_scene.render.resolution_x, sequencer_scene.render.resolution_y = 96, 64
        strip = compat.new_color_strip(sequencer_scene.sequence_editor, "Harbour", 2, 1, 9)
        strip.shotcaller.prompt, strip.select = "a harbour at dawn", True
        assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
        pump = importlib.import_module(f"{addon.__name__}.mainthread.pump")
        run_pump_until_idle(pump, describe=lambda: strip.shotcaller.message)
    finally:
        hostile.close()
    shot = strip.shotcaller
    assert shot.status == "FAILED"
    assert "not a video: it begins with '<!DOCTYPE html>" in shot.message, shot.message
    assert len(shot.takes) == 0
    assert [s.name for s in compat.all_strips(sequencer_scene.sequence_editor)] == ["Harbour"]
    files = [name for _, _, names in os.walk(tmp_path / "takes") for name in names]
    records = (".jsonl", ".json", ".sqlite", ".sqlite-wal", ".sqlite-shm")  # the decision log and the job journal
    assert [name for name in files if not name.endswith(records)] == [], "nothing of the page is left"
    assert any(path.startswith("/view") for _, path, _ in hostile.requests), "the attacked route was reached"
