"""The first press of a writing tool in a fresh Blender imports nothing heavy on the main thread: the
LiteLLM client, the writing prompts and pydantic are imported by the worker thread that sends the
request, and the answer comes back as before. Checked in a fresh Blender process (this one has the core
imported already), against the real LiteLLM proxy (and its reference Whisper endpoint for Transcribe);
an import hook notes which thread imported what."""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path

import pytest
from fresh_process import FRESH_BLENDER, NOTING_IMPORTS, run_result
from reference_servers import LITELLM_TEST_KEY as KEY

from devservers.litellm.config import ENHANCED_PROMPT, SHOT_LIST

CHILD = (
    FRESH_BLENDER
    + r"""
url, key, mode = sys.argv[3], sys.argv[4], sys.argv[5]
addon_utils.enable(module, default_set=True)
prefs = bpy.context.preferences.addons[module].preferences
server = prefs.instances.add()
server.kind, server.name, server.url, server.api_key, server.locality = "litellm", "writer", url, key, "LOCAL"
prefs.writing_model = "prompt-writer" if mode == "enhance" else "shot-writer"
prefs.transcription_model = "whisper"
scene = bpy.context.scene
scene.sequence_editor_create()
compat = importlib.import_module(module + ".sequencer.compat")
strip = compat.new_color_strip(scene.sequence_editor, "Harbour", 1, 1, 48)
strip.shotcaller.prompt = "a harbour at dawn"
scene.sequence_editor.active_strip = strip
scene.shotcaller_writing.script_source = "PASTE"
scene.shotcaller_writing.script_paste = "INT. HARBOUR - DAWN. Mist. Mara walks the pier."
if mode == "transcribe":
    top = scene.sequence_editor.strips if hasattr(scene.sequence_editor, "strips") else scene.sequence_editor.sequences
    scene.sequence_editor.active_strip = top.new_sound(name="Dialogue", filepath=sys.argv[6], channel=2, frame_start=1)

"""
    + NOTING_IMPORTS
    + r"""
sys.meta_path.insert(0, Noting())
if mode == "enhance":
    pressed = bpy.ops.sequencer.shotcaller_enhance_prompt()
elif mode == "script":
    pressed = bpy.ops.sequencer.shotcaller_script_to_shots()
else:
    pressed = bpy.ops.sequencer.shotcaller_transcribe()
main_thread_imports = sorted({name for main, name in Noting.seen if main})
language = importlib.import_module(module + ".operators.language")
deadline = time.monotonic() + 60
while time.monotonic() < deadline:  # the UI timer that delivers answers, called as Blender would (none fires headless)
    interval = language._deliver_answers()
    if interval is None:
        break
    time.sleep(interval)
worker_imports = sorted({name for main, name in Noting.seen if not main})
writing = scene.shotcaller_writing
made = [s for s in compat.all_strips(scene.sequence_editor) if s.name not in ("Harbour", "Dialogue")]
shots = sorted(s.shotcaller.prompt for s in made if s.type == "COLOR")
subtitles = sorted(s.text for s in made if s.type == "TEXT")
result = {"pressed": sorted(pressed), "main": main_thread_imports, "worker": worker_imports,
    "enhance": [writing.enhance_state, writing.enhance_new, writing.enhance_message],
    "script": [writing.script_state, writing.script_message], "shots": shots,
    "transcribe": [writing.transcribe_state, writing.transcribe_message], "subtitles": subtitles}
addon_utils.disable(module, default_set=True)
print("RESULT " + json.dumps(result))
"""
)

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pydantic", ".writing", ".backends.litellm.client", ".mainthread.pump", ".jobs.session")


def heavy(names: list[str]) -> list[str]:
    return [name for name in names if name.startswith(HEAVY[0]) or any(part in name for part in HEAVY[1:])]


def test_the_first_enhance_imports_the_client_and_the_writing_tools_on_its_worker(
    shotcaller_zip, tmp_path, litellm_proxy, blender
):
    result = run_result(CHILD, str(shotcaller_zip), str(tmp_path), litellm_proxy, KEY, "enhance")
    assert result["pressed"] == ["FINISHED"]
    assert heavy(result["main"]) == [], result["main"]
    assert any(name.endswith(".backends.litellm.client") for name in result["worker"])
    assert result["enhance"][:2] == ["READY", ENHANCED_PROMPT], result["enhance"]


def test_the_first_script_to_shots_imports_on_its_worker_and_places_the_shots(
    shotcaller_zip, tmp_path, litellm_proxy, blender
):
    result = run_result(CHILD, str(shotcaller_zip), str(tmp_path), litellm_proxy, KEY, "script")
    assert result["pressed"] == ["FINISHED"]
    assert heavy(result["main"]) == [], result["main"]
    assert result["script"][0] == "DONE", result["script"]
    assert result["shots"] == sorted(shot["prompt"] for shot in SHOT_LIST["shots"])


def test_the_first_transcribe_imports_the_client_on_its_worker_and_places_the_subtitles(
    shotcaller_zip, shotcaller_addon, tmp_path, litellm_proxy, dev_python, blender
):
    compat = importlib.import_module(f"{shotcaller_addon}.sequencer.compat")
    if not compat.HAS_AUDIO:
        pytest.skip("this bpy build has no audio support (the 4.2 wheel): no sound strip can be made")
    sound = str(tmp_path / "line.wav")
    code = (
        "import sys\n"
        "from devservers.openai_media.speech import encode_sound, tone_bursts_wav\n"
        "encode_sound(sys.argv[1], tone_bursts_wav([(0.5, 1.5)], 2.0), transcript='Cast off.')\n"
    )
    subprocess.run([dev_python, "-c", code, sound], cwd=REPO_ROOT, check=True, timeout=120)
    result = run_result(CHILD, str(shotcaller_zip), str(tmp_path / "blender"), litellm_proxy, KEY, "transcribe", sound)
    assert result["pressed"] == ["FINISHED"]
    assert heavy(result["main"]) == [], result["main"]
    assert result["transcribe"][0] == "DONE", result["transcribe"]
    assert result["subtitles"] == ["Cast off."]
