"""The writing tools in real Blender against the REAL LiteLLM proxy (its mock chat models).

One proxy per module: `python -m devservers.litellm` started with the dev venv's python (it runs
the OpenAI media reference endpoint itself and the proxy from the litellm venv). The operators
run as the sidebar runs them; the answer is applied when `pump.tick` drains (the function the UI
timer calls; timers never fire headless).
"""

from __future__ import annotations

import importlib
import secrets
import socket
import time
import types

import bpy
import pytest
import stand_in_layout
from pump_driver import run_pump_until_idle
from reference_servers import LITELLM_TEST_KEY as KEY

from devservers.litellm.config import ENHANCED_PROMPT, SHOT_LIST, SHOT_LIST_ANSWER

MODULES = ("operators.enhance", "operators.script", "operators.transcribe", "panels.writing")
SCRIPT = "INT. HARBOUR - DAWN. Mist. Mara walks the pier in a yellow raincoat. TITLE: The Last Catch."


@pytest.fixture(scope="module")
def proxy(litellm_proxy):
    return litellm_proxy


@pytest.fixture(scope="module")
def tools(shotcaller_addon, blender):
    """The add-on's writing modules and the pieces the tests drive."""
    loaded = [importlib.import_module(f"{shotcaller_addon}.{name}") for name in MODULES]
    yield types.SimpleNamespace(
        enhance=loaded[0],
        script=loaded[1],
        transcribe=loaded[2],
        panels=loaded[3],
        pump=importlib.import_module(f"{shotcaller_addon}.mainthread.pump"),
        compat=importlib.import_module(f"{shotcaller_addon}.sequencer.compat"),
        session=importlib.import_module(f"{shotcaller_addon}.jobs.session"),
    )


@pytest.fixture
def prefs(tools, shotcaller_addon, blender):
    preferences = blender.context.preferences.addons[shotcaller_addon].preferences
    preferences.instances.clear()
    yield preferences
    preferences.instances.clear()
    preferences.writing_model = "gpt-4o-mini"
    tools.session.close_session()


def add_litellm(prefs, url, *, key=KEY, locality="LOCAL", model="shot-writer"):
    instance = prefs.instances.add()
    instance.kind, instance.name, instance.url = "litellm", "writer", url
    instance.api_key, instance.locality = key, locality
    prefs.writing_model = model
    return instance


def drive(tools, timeout=60.0):
    """Call the UI timer's function until it is idle, as Blender would."""
    run_pump_until_idle(tools.pump, timeout=timeout)


def make_shot(tools, scene, name="Harbour", prompt="a harbour at dawn", channel=1, start=1, length=48):
    strip = tools.compat.new_color_strip(scene.sequence_editor, name, channel, start, length)
    strip.shotcaller.prompt = prompt
    scene.sequence_editor.active_strip = strip
    return strip


def strips_by_name(tools, scene):
    return {s.name: s for s in tools.compat.all_strips(scene.sequence_editor)}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------------------------- enhance


def test_enhance_shows_old_and_new_then_apply_is_one_undo_step(tools, prefs, proxy, sequencer_scene, blender):
    add_litellm(prefs, proxy, model="prompt-writer")
    strip = make_shot(tools, sequencer_scene)
    state = sequencer_scene.shotcaller_writing
    assert bpy.ops.sequencer.shotcaller_enhance_prompt() == {"FINISHED"}
    assert tools.enhance.enhance_running(sequencer_scene)
    assert "Rewriting the prompt of 'Harbour'" in state.enhance_message
    drive(tools)
    assert not tools.enhance.enhance_running(sequencer_scene)
    assert state.enhance_state == "READY", state.enhance_message
    assert state.enhance_old == "a harbour at dawn"
    assert state.enhance_new == ENHANCED_PROMPT  # the label and quotes of the answer are gone
    assert state.enhance_target == "video generation model"  # no backend running: named by media kind
    assert state.enhance_strip == "Harbour" and state.enhance_shot_id == strip.shotcaller.shot_id
    assert strip.shotcaller.prompt == "a harbour at dawn"  # nothing changes before Apply

    apply_op = bpy.types.SEQUENCER_OT_shotcaller_enhance_apply
    assert {"REGISTER", "UNDO"} <= set(apply_op.bl_options)  # Blender makes it one undo step
    assert bpy.ops.sequencer.shotcaller_enhance_apply() == {"FINISHED"}
    assert strip.shotcaller.prompt == ENHANCED_PROMPT
    assert state.enhance_state == "DONE" and "Ctrl+Z" in state.enhance_message
    assert not bpy.ops.sequencer.shotcaller_enhance_apply.poll()  # applied once
    if bpy.ops.ed.undo.poll():  # headless Blender keeps no undo stack: ed.undo's poll fails there
        bpy.ops.ed.undo()
        assert strip.shotcaller.prompt == "a harbour at dawn"


def test_discard_keeps_the_prompt(tools, prefs, proxy, sequencer_scene, blender):
    add_litellm(prefs, proxy, model="prompt-writer")
    strip = make_shot(tools, sequencer_scene, prompt="a pier in the rain")
    assert bpy.ops.sequencer.shotcaller_enhance_prompt() == {"FINISHED"}
    drive(tools)
    state = sequencer_scene.shotcaller_writing
    assert state.enhance_state == "READY"
    assert bpy.ops.sequencer.shotcaller_enhance_discard() == {"FINISHED"}
    assert state.enhance_state == "NONE" and state.enhance_new == ""
    assert strip.shotcaller.prompt == "a pier in the rain"


def test_enhance_needs_a_prompt(tools, prefs, proxy, sequencer_scene, blender):
    add_litellm(prefs, proxy, model="prompt-writer")
    make_shot(tools, sequencer_scene, prompt="  ")
    with pytest.raises(RuntimeError, match="has no prompt yet"):
        blender.ops.sequencer.shotcaller_enhance_prompt()


# ---------------------------------------------------------------------------------------------- script to shots


def test_script_from_a_text_datablock_becomes_shots(tools, prefs, proxy, sequencer_scene, blender):
    add_litellm(prefs, proxy, model="shot-writer")
    scene = sequencer_scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.frame_current = 10
    existing = make_shot(tools, scene, name="Existing", channel=1, start=1, length=40)  # channel 1 is taken
    text = bpy.data.texts.new("Script")
    text.write(SCRIPT)
    state = scene.shotcaller_writing
    state.script_source, state.script_text = "TEXT", "Script"

    assert bpy.ops.sequencer.shotcaller_script_to_shots() == {"FINISHED"}
    assert tools.script.script_task(scene) is not None
    assert not bpy.ops.sequencer.shotcaller_script_to_shots.poll()  # one shot list at a time
    drive(tools)
    assert tools.script.script_task(scene) is None
    assert state.script_state == "DONE", state.script_message
    assert state.script_chars == len(SHOT_LIST_ANSWER)  # the live count saw every streamed character

    strips = strips_by_name(tools, scene)
    expected = SHOT_LIST["shots"]
    assert set(strips) == {"Existing"} | {shot["name"] for shot in expected}
    frame = 10
    ids = set()
    for shot in expected:
        strip = strips[shot["name"]]
        length = round(shot["seconds"] * 24)
        assert strip.type == "COLOR" and strip.channel == 2
        assert (tools.compat.left_handle(strip), tools.compat.duration(strip)) == (frame, length)
        assert strip.shotcaller.prompt == shot["prompt"]
        assert strip.shotcaller.negative_prompt == shot.get("negative_prompt", "")
        assert strip.shotcaller.media == shot["media"]
        assert strip.shotcaller.shot_id and strip.select
        ids.add(strip.shotcaller.shot_id)
        frame += length
    assert len(ids) == len(expected) and existing.shotcaller.shot_id not in ids
    assert scene.sequence_editor.active_strip == strips[expected[0]["name"]]
    assert state.script_message == f"3 shots on channel 2, frames 10 to {frame - 1}"
    bpy.data.texts.remove(text)


def test_pasted_script_with_channel_start_and_ntsc_rate(tools, prefs, proxy, sequencer_scene, blender):
    add_litellm(prefs, proxy, model="shot-writer")
    scene = sequencer_scene
    scene.render.fps, scene.render.fps_base = 30000, 1001.0  # 29.97 fps
    result = bpy.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT, channel=5, frame_start=100)
    assert result == {"FINISHED"}
    drive(tools)
    assert scene.shotcaller_writing.script_state == "DONE", scene.shotcaller_writing.script_message
    strips = strips_by_name(tools, scene)
    frame = 100
    for shot in SHOT_LIST["shots"]:
        strip = strips[shot["name"]]
        length = round(shot["seconds"] * 30000 / 1001)
        assert (strip.channel, tools.compat.left_handle(strip), tools.compat.duration(strip)) == (5, frame, length)
        frame += length
    assert scene.frame_end >= frame - 1  # the scene's range grew to show them


@pytest.mark.parametrize("model", ["shot-writer-invalid", "shot-writer-prose"])
def test_invalid_shot_list_twice_is_a_clear_error_and_makes_nothing(
    tools, prefs, proxy, sequencer_scene, blender, model
):
    add_litellm(prefs, proxy, model=model)
    make_shot(tools, sequencer_scene, name="Existing")
    assert bpy.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT) == {"FINISHED"}
    drive(tools)
    state = sequencer_scene.shotcaller_writing
    assert state.script_state == "FAILED"
    assert "no shots were made" in state.script_message
    assert f"model '{model}' did not return a usable shot list, even when asked again" in state.script_message
    assert list(strips_by_name(tools, sequencer_scene)) == ["Existing"]


def test_cancel_while_the_model_is_writing(tools, prefs, proxy, sequencer_scene, blender):
    add_litellm(prefs, proxy, model="slow-mock")  # answers after 3 s
    started = time.monotonic()
    assert bpy.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT) == {"FINISHED"}
    time.sleep(0.3)
    shown = draw_panel(tools, "SEQUENCER_PT_shotcaller_writing", bpy.context)
    assert "Writing the shot list: 0 characters" in shown and "[sequencer.shotcaller_script_cancel]" in shown
    assert bpy.ops.sequencer.shotcaller_script_cancel() == {"FINISHED"}
    drive(tools)
    state = sequencer_scene.shotcaller_writing
    assert state.script_state == "CANCELLED", state.script_message
    assert time.monotonic() - started < 2.5  # the connection was closed, not waited out
    assert not list(tools.compat.all_strips(sequencer_scene.sequence_editor))
    assert not bpy.ops.sequencer.shotcaller_script_cancel.poll()


# ---------------------------------------------------------------------------------------------- errors and safety


def test_no_litellm_server_configured(tools, prefs, sequencer_scene, blender):
    make_shot(tools, sequencer_scene)
    with pytest.raises(RuntimeError, match="No LiteLLM server is set up: add one in Preferences"):
        bpy.ops.sequencer.shotcaller_enhance_prompt()
    with pytest.raises(RuntimeError, match="No LiteLLM server is set up"):
        bpy.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT)
    state = sequencer_scene.shotcaller_writing
    assert state.script_state == "FAILED" and "Add-ons > Shotcaller > Servers" in state.script_message
    assert state.enhance_state == "FAILED" and "No LiteLLM server" in state.enhance_message
    assert len(list(tools.compat.all_strips(sequencer_scene.sequence_editor))) == 1


def test_a_disabled_server_does_not_count(tools, prefs, proxy, sequencer_scene, blender):
    add_litellm(prefs, proxy).enabled = False
    with pytest.raises(RuntimeError, match="No LiteLLM server is set up"):
        blender.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT)


def test_cloud_needs_the_project_to_allow_it(tools, prefs, proxy, sequencer_scene, blender):
    add_litellm(prefs, proxy, locality="AUTO")  # loopback, but it may forward to a cloud provider
    project = sequencer_scene.shotcaller_project
    with pytest.raises(RuntimeError, match=r"does not allow cloud\. Tick Allow Cloud in Shotcaller > Project"):
        bpy.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT)
    project.allow_cloud, project.force_local = True, True
    with pytest.raises(RuntimeError, match=r"set to Force Local.*set its 'Where' to Local"):
        bpy.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT)
    project.force_local = False
    assert bpy.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT) == {"FINISHED"}
    drive(tools)
    assert sequencer_scene.shotcaller_writing.script_state == "DONE"


def test_a_remote_server_needs_online_access(tools, prefs, sequencer_scene, blender):
    assert not bpy.app.online_access  # the bpy module's default
    add_litellm(prefs, "http://192.0.2.10:4000")
    with pytest.raises(RuntimeError, match="online access is off"):
        bpy.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT)


def test_wrong_key_is_a_clear_error_without_the_key(tools, prefs, proxy, sequencer_scene, blender):
    wrong = f"sk-wrong-{secrets.token_hex(8)}"
    add_litellm(prefs, proxy, key=wrong, model="prompt-writer")
    make_shot(tools, sequencer_scene)
    assert bpy.ops.sequencer.shotcaller_enhance_prompt() == {"FINISHED"}
    assert bpy.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT) == {"FINISHED"}
    drive(tools)
    state = sequencer_scene.shotcaller_writing
    for status, message in ((state.enhance_state, state.enhance_message), (state.script_state, state.script_message)):
        assert status == "FAILED"
        # A proxy without a database knows only its master key: the typed error says so.
        assert "does not know this key" in message and "Use the proxy's master key" in message
        assert wrong not in message and KEY not in message
    assert len(list(tools.compat.all_strips(sequencer_scene.sequence_editor))) == 1


def test_proxy_down_is_a_clear_error(tools, prefs, sequencer_scene, blender):
    add_litellm(prefs, f"http://127.0.0.1:{free_port()}")
    assert bpy.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT) == {"FINISHED"}
    drive(tools)
    state = sequencer_scene.shotcaller_writing
    assert state.script_state == "FAILED"
    assert "LiteLLM" in state.script_message and "no shots were made" in state.script_message
    assert not list(tools.compat.all_strips(sequencer_scene.sequence_editor))


def test_the_key_is_never_saved_in_the_blend(tools, prefs, proxy, sequencer_scene, blender, tmp_path):
    add_litellm(prefs, proxy, model="prompt-writer")
    make_shot(tools, sequencer_scene)
    assert bpy.ops.sequencer.shotcaller_enhance_prompt() == {"FINISHED"}
    drive(tools)
    prefs.writing_model = "shot-writer"
    assert bpy.ops.sequencer.shotcaller_script_to_shots(text=SCRIPT) == {"FINISHED"}
    drive(tools)
    state = sequencer_scene.shotcaller_writing
    assert state.enhance_state == "READY" and state.script_state == "DONE", state.script_message
    for prop in state.bl_rna.properties:
        value = getattr(state, prop.identifier)
        assert not (isinstance(value, str) and KEY in value), prop.identifier
    film = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film), compress=False, copy=True)
    assert KEY.encode() not in film.read_bytes()


def draw_panel(tools, name, context):
    """What the panel class `name` of panels/writing.py shows, one line per label or button."""
    return stand_in_layout.draw(getattr(tools.panels, name), context)


def test_panels_draw_with_and_without_a_proposal(tools, prefs, proxy, sequencer_scene, blender):
    """The panels' draw code runs headless too: every branch, no exceptions."""
    add_litellm(prefs, proxy, model="prompt-writer")
    make_shot(tools, sequencer_scene)
    shown = draw_panel(tools, "SEQUENCER_PT_shotcaller_writing", bpy.context)
    assert "[sequencer.shotcaller_enhance_prompt]" in shown and "[sequencer.shotcaller_script_to_shots]" in shown
    assert bpy.ops.sequencer.shotcaller_enhance_prompt() == {"FINISHED"}
    assert "Rewriting the prompt" in draw_panel(tools, "SEQUENCER_PT_shotcaller_writing", bpy.context)
    drive(tools)
    shown = draw_panel(tools, "SEQUENCER_PT_shotcaller_writing", bpy.context)
    assert "[sequencer.shotcaller_enhance_apply]" in shown and "[sequencer.shotcaller_enhance_discard]" in shown
    assert "Old:" in shown and "a harbour at dawn" in shown and "Cinematic wide shot" in shown
    assert "Select a sound strip to transcribe" in draw_panel(tools, "SEQUENCER_PT_shotcaller_subtitles", bpy.context)


def test_late_reports_reach_blender(tools, blender):
    """Answers arrive after their operator finished: a small operator reports them (status bar in the UI)."""
    assert bpy.ops.sequencer.shotcaller_report(level="INFO", message="3 shots on channel 2") == {"FINISHED"}
    with pytest.raises(RuntimeError, match="Script to shots failed"):
        bpy.ops.sequencer.shotcaller_report(level="ERROR", message="Script to shots failed")
    assert tools.script._redraw_while_busy() is None  # the UI redraw timer stops when nothing streams
