"""Transcription in real Blender: a sound strip through the REAL LiteLLM proxy to the reference
Whisper endpoint (devservers/openai_media), whose segments are timed from the sound's loud
stretches and worded from the file's metadata, so the subtitles can be checked exactly.

The 4.2 bpy wheel has no audio (no sound strip can exist there): the tests that need one skip.
One proxy per module, started only by the tests that need it.
"""

from __future__ import annotations

import importlib
import itertools
import json
import shutil
import subprocess
import types

import bpy
import pytest
from pump_driver import run_pump_until_idle
from reference_servers import LITELLM_TEST_KEY as KEY
from reference_servers import REPO_ROOT

MODULES = ("operators.enhance", "operators.script", "operators.transcribe", "panels.writing")
SPANS = [(0.5, 1.5), (2.0, 3.2), (4.0, 4.6)]  # seconds of speech in the test sound
LINES = ["We sail at dawn.", "Not without the nets.", "Then hurry."]
DURATION = 5.5
FPS = 24


@pytest.fixture(scope="module")
def tools(shotcaller_addon, blender):
    """The add-on's writing modules and the pieces the tests drive."""
    loaded = [importlib.import_module(f"{shotcaller_addon}.{name}") for name in MODULES]
    yield types.SimpleNamespace(
        transcribe=loaded[2],
        pump=importlib.import_module(f"{shotcaller_addon}.mainthread.pump"),
        compat=importlib.import_module(f"{shotcaller_addon}.sequencer.compat"),
    )


@pytest.fixture(scope="module")
def audio(tools):
    if not tools.compat.HAS_AUDIO:
        pytest.skip("this bpy build has no audio support (the 4.2 wheel): no sound strip can be made")


@pytest.fixture(scope="module")
def proxy(audio, litellm_proxy):
    return litellm_proxy


@pytest.fixture(scope="module")
def dialogue(audio, dev_python, tmp_path_factory):
    """A WAV with tone bursts at SPANS and LINES in its metadata (written by the dev venv: PyAV + numpy)."""
    path = str(tmp_path_factory.mktemp("sound") / "dialogue.wav")
    code = (
        "import json, sys\n"
        "from devservers.openai_media.speech import encode_sound, tone_bursts_wav\n"
        "spans, duration, lines, path = json.loads(sys.argv[1])\n"
        "encode_sound(path, tone_bursts_wav([tuple(s) for s in spans], duration), transcript='|'.join(lines))\n"
    )
    arguments = json.dumps([SPANS, DURATION, LINES, path])
    subprocess.run([dev_python, "-c", code, arguments], cwd=REPO_ROOT, check=True, timeout=120)
    return path


@pytest.fixture
def prefs(tools, shotcaller_addon, blender):
    preferences = blender.context.preferences.addons[shotcaller_addon].preferences
    preferences.instances.clear()
    yield preferences
    preferences.instances.clear()
    preferences.transcription_model = "whisper-1"


def add_litellm(prefs, url, *, locality="LOCAL", model="whisper"):
    instance = prefs.instances.add()
    instance.kind, instance.name, instance.url = "litellm", "whisper", url
    instance.api_key, instance.locality = KEY, locality
    prefs.transcription_model = model
    return instance


def drive(tools, timeout=60.0):
    run_pump_until_idle(tools.pump, timeout=timeout)


def add_sound(scene, path, *, channel=2, frame_start=11):
    strips = scene.sequence_editor.strips if hasattr(scene.sequence_editor, "strips") else None
    strips = strips if strips is not None else scene.sequence_editor.sequences
    strip = strips.new_sound(name="Dialogue", filepath=path, channel=channel, frame_start=frame_start)
    scene.sequence_editor.active_strip = strip
    return strip


def expected_cues(frame_start, clip_start=None, clip_end=None):
    cues = []
    for (start, end), text in zip(SPANS, LINES, strict=True):
        first, last = round(frame_start + start * FPS), round(frame_start + end * FPS)
        first, last = max(first, clip_start or first), min(last, clip_end or last)
        if last > first:
            cues.append((first, last, text))
    return cues


def text_strips(tools, scene):
    found = [s for s in tools.compat.all_strips(scene.sequence_editor) if s.type == "TEXT"]
    return sorted(found, key=lambda s: tools.compat.left_handle(s))


def assert_cues(tools, strips, cues, channel):
    assert [s.text for s in strips] == [text for _, _, text in cues]
    for strip, (first, last, _) in zip(strips, cues, strict=True):
        assert strip.channel == channel
        # The reference endpoint times speech in 20 ms windows: within one frame of the tone bursts.
        assert abs(tools.compat.left_handle(strip) - first) <= 1, (strip.text, tools.compat.left_handle(strip), first)
        assert abs(tools.compat.right_handle(strip) - last) <= 1, (strip.text, tools.compat.right_handle(strip), last)
    for earlier, later in itertools.pairwise(strips):
        assert tools.compat.right_handle(earlier) <= tools.compat.left_handle(later)  # never overlapping on one channel


def test_transcribe_needs_a_sound_strip(tools, sequencer_scene, blender):
    strip = tools.compat.new_color_strip(sequencer_scene.sequence_editor, "Shot", 1, 1, 24)
    sequencer_scene.sequence_editor.active_strip = strip
    assert not blender.ops.sequencer.shotcaller_transcribe.poll()


def test_subtitles_are_timed_to_the_speech(tools, prefs, proxy, dialogue, sequencer_scene, blender):
    scene = sequencer_scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.render.resolution_y, scene.render.resolution_percentage = 1080, 100
    add_litellm(prefs, proxy)
    sound = add_sound(scene, dialogue)
    assert bpy.ops.sequencer.shotcaller_transcribe.poll()
    assert bpy.ops.sequencer.shotcaller_transcribe() == {"FINISHED"}
    assert tools.transcribe.transcribing(scene)
    drive(tools)
    state = scene.shotcaller_writing
    assert state.transcribe_state == "DONE", state.transcribe_message
    assert state.transcribe_message == "3 subtitles on channel 3"
    strips = text_strips(tools, scene)
    assert_cues(tools, strips, expected_cues(tools.compat.content_start(sound)), channel=3)
    first = strips[0]
    assert first.font_size == round(1080 * tools.transcribe.SUBTITLE_HEIGHT)
    assert tuple(first.location) == pytest.approx((0.5, tools.transcribe.SUBTITLE_Y))
    assert (getattr(first, "anchor_y", None) or first.align_y) == "BOTTOM"


def test_packed_and_trimmed_sound_with_a_busy_channel_above(
    tools, prefs, proxy, dialogue, sequencer_scene, blender, tmp_path
):
    """The packed data is sent (the file is gone), the trim cuts the cues, a taken channel is skipped."""
    scene = sequencer_scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    add_litellm(prefs, proxy)
    copy = tmp_path / "take3.wav"
    shutil.copyfile(dialogue, copy)
    sound = add_sound(scene, str(copy), channel=1, frame_start=1)
    sound.sound.pack()
    copy.unlink()
    tools.compat.set_left_handle(sound, 20)  # cuts into the first line (frames 13 to 37)
    tools.compat.set_right_handle(sound, 100)  # drops the last line (frames 97 to 111 are cut to 97 to 100)
    tools.compat.new_color_strip(scene.sequence_editor, "Shot", 2, 50, 10)  # channel 2 is taken there
    assert bpy.ops.sequencer.shotcaller_transcribe() == {"FINISHED"}
    drive(tools)
    state = scene.shotcaller_writing
    assert state.transcribe_state == "DONE", state.transcribe_message
    assert_cues(tools, text_strips(tools, scene), expected_cues(1, clip_start=20, clip_end=100), channel=3)


def test_no_litellm_server_configured(tools, prefs, audio, dialogue, sequencer_scene, blender):
    add_sound(sequencer_scene, dialogue)
    with pytest.raises(RuntimeError, match="No LiteLLM server is set up: add one in Preferences"):
        blender.ops.sequencer.shotcaller_transcribe()
    assert sequencer_scene.shotcaller_writing.transcribe_state == "FAILED"
    assert not text_strips(tools, sequencer_scene)


def test_a_cloud_server_needs_the_project_to_allow_cloud(tools, prefs, audio, dialogue, sequencer_scene, blender):
    add_litellm(prefs, "http://127.0.0.1:4000", locality="CLOUD")
    add_sound(sequencer_scene, dialogue)
    with pytest.raises(RuntimeError, match="may send the sound to a cloud provider"):
        blender.ops.sequencer.shotcaller_transcribe()


def test_missing_sound_file(tools, prefs, proxy, dialogue, sequencer_scene, blender, tmp_path):
    add_litellm(prefs, proxy)
    copy = tmp_path / "gone.wav"
    shutil.copyfile(dialogue, copy)
    add_sound(sequencer_scene, str(copy))
    copy.unlink()
    with pytest.raises(RuntimeError, match="sound file of 'Dialogue' is missing"):
        blender.ops.sequencer.shotcaller_transcribe()


def test_unknown_transcription_model_is_a_clear_error(tools, prefs, proxy, dialogue, sequencer_scene, blender):
    add_litellm(prefs, proxy, model="no-such-whisper")
    add_sound(sequencer_scene, dialogue)
    assert blender.ops.sequencer.shotcaller_transcribe() == {"FINISHED"}
    drive(tools)
    state = sequencer_scene.shotcaller_writing
    assert state.transcribe_state == "FAILED"
    assert "has no model 'no-such-whisper'" in state.transcribe_message
    assert KEY not in state.transcribe_message
    assert not text_strips(tools, sequencer_scene)
