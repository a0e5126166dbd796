"""The first press of a submitting operator once the warm-up has finished opens the session on a worker
thread (mainthread/submission.py's _open_later), as Generate's always has: Generate, Generate
Missing, Retry Failed, Redo and Variation return without building the session (every server's client
and templates) or opening the journal on the main thread, their shots are submitted once each by the
pump's next ticks, and what the session or the shots find wrong is said once, after the operator has
returned (through language.notify, Shotcaller's report operator in the UI). Checked in a fresh Blender
process with the UI emulated, against the reference ComfyUI server; an import hook notes which thread
imports what during the press."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fresh_process import FRESH_BLENDER, NOTING_IMPORTS

TESTS = str(Path(__file__).resolve().parents[1])

CHILD = (
    FRESH_BLENDER
    + r"""
import logging
comfyui_url, mode, redrawn = sys.argv[3], sys.argv[4], sys.argv[6] == "redrawn"
sys.path.insert(0, sys.argv[5])
from pump_driver import run_pump_until_idle

addon_utils.enable(module, default_set=True)
prefs = bpy.context.preferences.addons[module].preferences
prefs.comfyui_url = comfyui_url
prefs.output_folder = os.path.join(root, "takes")
templates = os.path.join(root, "templates")
os.makedirs(templates, exist_ok=True)
with open(os.path.join(templates, "broken.binding.json"), "w") as f:  # a problem the session finds
    f.write('{"name": "broken", "workflow": "missing.json",')
prefs.template_folder = templates
scene = bpy.context.scene
scene.sequence_editor_create()
if hasattr(bpy.context.workspace, "sequencer_scene"):  # Blender 5.0+
    bpy.context.workspace.sequencer_scene = scene
compat = importlib.import_module(module + ".sequencer.compat")
strips = {name: compat.new_color_strip(scene.sequence_editor, name, 1, 1 + 10 * n, 9) for n, name in enumerate("ABCDE")}
for strip in strips.values():
    strip.shotcaller.prompt, strip.select = "rain on a window", False
for name in "CE":  # failed before: Retry Failed makes them again (E cannot be made: its image is gone)
    strips[name].shotcaller.status, strips[name].shotcaller.message = "FAILED", "the server was busy"
    strips[name].shotcaller.last_quality = "draft"
strips["E"].shotcaller.init_image = os.path.join(root, "no-such-image.png")
for name in "ABE":
    strips[name].select = True
scene.sequence_editor.active_strip = strips["D"]

class Said(logging.Handler):  # what is said after the operator returned (language.notify logs each)
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []
    def emit(self, record):
        self.messages.append(record.getMessage())
said = Said()
logging.getLogger(module + ".operators.language").addHandler(said)
logging.getLogger(module + ".operators.language").setLevel(logging.DEBUG)

lazy = importlib.import_module(module + ".addon.lazy")
warmup = importlib.import_module(module + ".addon.warmup")
lazy.emulate_ui(True)
polled = bpy.ops.sequencer.shotcaller_generate_missing.poll()  # the Shots panel draws: the warm-up starts
deferred = importlib.import_module(module + ".operators.deferred")
warmed = warmup.wait(120) and warmup.failure() is None
if redrawn:  # the sidebar draws again after the warm-up: its poll imports the Blender layer on a worker
    bpy.ops.sequencer.shotcaller_generate_missing.poll()
    warmed = deferred.wait_loaded(60) and deferred.failure() is None

"""
    + NOTING_IMPORTS
    + r"""
sys.meta_path.insert(0, Noting())
print("PRESS BEGINS", flush=True)
if mode == "generate":
    pressed = bpy.ops.sequencer.shotcaller_generate(quality="draft")
elif mode in ("generate_missing", "twice"):
    pressed = bpy.ops.sequencer.shotcaller_generate_missing(quality="draft")
elif mode == "retry_failed":
    pressed = bpy.ops.sequencer.shotcaller_retry_failed()
else:
    pressed = getattr(bpy.ops.sequencer, "shotcaller_" + mode)()
print("PRESS ENDS", flush=True)
again = []
if mode == "twice":  # pressed again while the session opens: each shot is already waiting to be sent
    again = [sorted(bpy.ops.sequencer.shotcaller_retry_failed())]
    again.append(sorted(bpy.ops.sequencer.shotcaller_generate_missing()))
main_thread_imports = sorted({name for main, name in Noting.seen if main})
session_module = lazy.loaded("jobs.session")
sent_at_return = sorted(name for name, s in strips.items() if s.shotcaller.job_id)
late_at_return = list(said.messages)
statuses_at_return = {name: [s.shotcaller.status, s.shotcaller.message] for name, s in strips.items()}
while deferred.submit_waiting() is not None:  # the deferral's timer, as Blender would call it in the UI
    time.sleep(0.05)
pump = importlib.import_module(module + ".mainthread.pump")
run_pump_until_idle(pump, describe=lambda: str({n: s.shotcaller.message for n, s in strips.items()}))
worker_imports = sorted({name for main, name in Noting.seen if not main})
session = session_module.current_session()
records = {}  # the take records on disk, by shot folder: one per job that made a take
for folder, _dirs, files in os.walk(os.path.join(root, "takes")):
    made = [f for f in files if f.endswith(".take.json")]
    if made:
        records[os.path.basename(folder)] = len(made)
ended = {name: [s.shotcaller.status, s.shotcaller.message, len(s.shotcaller.takes)] for name, s in strips.items()}
if session is not None:
    session_module.close_session()
addon_utils.disable(module, default_set=True)
print("RESULT " + json.dumps({"polled": polled, "warmed": warmed, "pressed": sorted(pressed),
    "main": main_thread_imports, "worker": worker_imports, "sent_at_return": sent_at_return,
    "statuses_at_return": statuses_at_return, "late_at_return": late_at_return, "late": said.messages,
    "records": records, "ended": ended, "again": again}), flush=True)
# bpy 4.5 hangs at interpreter exit after this flow, with nothing of Shotcaller's left registered that
# the child could find (no class, timer, handler or pool thread): not understood yet, see the notes.
os._exit(0)
"""
)

# The core the warm-up imports, and what building a session would import beyond it (jobs.background,
# the standard library's thread pool only, and the Blender layer on top of the core are not heavy).
HEAVY = ("pydantic", ".jobs.session", ".jobs.scheduler", ".jobs.journal", ".backends.", ".routing.", ".shots")

SUBMITTED = {
    "generate": "ABE",
    "generate_missing": "ABCDE",
    "retry_failed": "CE",
    "redo": "D",
    "variation": "D",
    "twice": "ABCDE",  # Generate Missing, then Retry Failed and Generate Missing again before anything was sent
}


def run(mode: str, shotcaller_zip, tmp_path, comfyui_url, when: str):  # type: ignore[no-untyped-def]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(shotcaller_zip), str(tmp_path), comfyui_url, mode, TESTS, when],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    lines = proc.stdout.splitlines()
    results = [line for line in lines if line.startswith("RESULT ")]
    assert results, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(results[-1][len("RESULT ") :]), [line for line in lines if not line.startswith("RESULT ")]


def said_count(text: str, result: dict, output: list[str]) -> int:
    """How many times a message holding `text` was said: by the operator (its reports are printed
    headless) or later (language.notify)."""
    return sum(text in line for line in output) + sum(text in message for message in result["late"])


CASES = [(mode, "redrawn") for mode in sorted(SUBMITTED)] + [("generate_missing", "at_once"), ("redo", "at_once")]


@pytest.mark.parametrize(("mode", "when"), CASES)
def test_the_first_press_after_the_warm_up_opens_the_session_on_a_worker_thread(
    mode, when, shotcaller_zip, tmp_path, comfyui_url, blender
):
    """`redrawn`: the sidebar drew after the warm-up had finished (what a user pressing a moment later
    gets): the Blender layer was imported on a worker then, and the press imports nothing at all.
    `at_once`: pressed as the warm-up ends: the shots wait for the layer's import, as during the warm-up."""
    result, output = run(mode, shotcaller_zip, tmp_path, comfyui_url, when)
    assert result["polled"] and result["warmed"]
    assert result["pressed"] == ["FINISHED"], output[-20:]
    heavy = [name for name in result["main"] if name.startswith(HEAVY[0]) or any(p in name for p in HEAVY[1:])]
    assert heavy == [], result["main"]
    if when == "redrawn":
        assert [name for name in result["main"] if ".shotcaller." in name] == [], result["main"]
    else:
        waiting = {name: result["statuses_at_return"][name] for name in SUBMITTED[mode]}
        assert waiting == {name: ["QUEUED", "waiting for Shotcaller to finish loading"] for name in SUBMITTED[mode]}
    # The session was opened on a worker thread: the operator returned before any shot was sent
    # (they are sent by the pump's tick that applies the opened session) or anything was said late.
    assert result["sent_at_return"] == []
    assert result["late_at_return"] == []
    # Every shot submitted once, and those that can be made made once.
    expected = SUBMITTED[mode]
    made = [name for name in expected if name != "E"]
    assert {folder.upper(): count for folder, count in result["records"].items()} == dict.fromkeys(made, 1)
    for name in made:
        status, message, takes = result["ended"][name]
        assert (status, takes) == ("DONE", 1), (name, message)
    if "E" in expected:
        status, message, takes = result["ended"]["E"]
        assert status == "FAILED" and "no-such-image.png" in message and takes == 0, message
        assert said_count("no-such-image.png", result, output) == 1, (result["late"], output[-20:])
    if mode == "twice":
        assert result["again"] == [["CANCELLED"], ["CANCELLED"]]
        assert said_count("Already waiting to be sent, not asked for again: ", result, output) == 2, output[-20:]
    # The session's problem (the broken template) said once, after the operator had returned.
    assert said_count("broken.binding.json", result, output) == 1, (result["late"], output[-20:])
    assert sum("broken.binding.json" in message for message in result["late"]) == 1
