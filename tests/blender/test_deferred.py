"""Operators pressed while the warm-up still imports the core (operators/deferred.py): they return
without importing it on the main thread or waiting for it, the shots wait as queued, and the timer
submits them once it is in (or fails them, saying why, when it could not be imported). Checked in a
fresh Blender process, with the UI emulated (lazy.emulate_ui) and the warm-up thread held at its
first module by an import finder until the operators have returned."""

from __future__ import annotations

from pathlib import Path

from fresh_process import FRESH_BLENDER, run_result

TESTS = str(Path(__file__).resolve().parents[1])

CHILD = (
    FRESH_BLENDER
    + r"""
comfyui_url, mode = sys.argv[3], sys.argv[4]
sys.path.insert(0, sys.argv[5])
from pump_driver import run_pump_until_idle

CORE = ("shots", "jobs", "mainthread.pump", "mainthread.submission", "backends", "routing", "writing")

def heavy(name):
    return (name.partition(".")[0] in ("pydantic", "pydantic_core", "websocket")
        or any(name == f"{module}.{core}" or name.startswith(f"{module}.{core}.") for core in CORE))

class Gate:
    # Asked first for every module not imported yet: holds the warm-up thread at its first core module
    # until released (in "fail" mode, the bundled pydantic then does not load there), and notes every
    # core module the main thread looks for.
    def __init__(self):
        self.release, self.held = threading.Event(), threading.Event()
        self.timed_out, self.main_thread_asked = False, []
    def find_spec(self, name, path=None, target=None):
        if not heavy(name):
            return None
        if threading.current_thread() is threading.main_thread():
            self.main_thread_asked.append(name)
        elif threading.current_thread().name == "shotcaller-warmup":
            if not self.held.is_set():
                self.held.set()
                self.timed_out = not self.release.wait(30)
            if mode == "fail" and name.partition(".")[0] == "pydantic":
                raise ImportError("pydantic-core failed to load (the test broke it)")
        return None

gate = Gate()
sys.meta_path.insert(0, gate)
addon_utils.enable(module, default_set=True)
prefs = bpy.context.preferences.addons[module].preferences
prefs.comfyui_url = comfyui_url
prefs.output_folder = os.path.join(root, "takes")
scene = bpy.context.scene
scene.sequence_editor_create()
if hasattr(bpy.context.workspace, "sequencer_scene"):  # Blender 5.0+
    bpy.context.workspace.sequencer_scene = scene
compat = importlib.import_module(module + ".sequencer.compat")
strips = {name: compat.new_color_strip(scene.sequence_editor, name, 1, 1 + 10 * n, 9) for n, name in enumerate("ABCD")}
for strip in strips.values():
    strip.shotcaller.prompt, strip.select = "rain on a window", False
strips["C"].shotcaller.status, strips["C"].shotcaller.message = "FAILED", "the server was busy"
strips["C"].shotcaller.last_quality = "final"
scene.sequence_editor.active_strip = strips["D"]
if mode == "undo":  # shots generated before have ids; "B" is renamed, then all of it is undone below
    importlib.import_module(module + ".sequencer.index").ensure_shot_ids(scene)
    bpy.ops.ed.undo_push(message="the shots")
    strips["B"].name = "B2"
    bpy.ops.ed.undo_push(message="a rename")

lazy = importlib.import_module(module + ".addon.lazy")
warmup = importlib.import_module(module + ".addon.warmup")
deferred = importlib.import_module(module + ".operators.deferred")
lazy.emulate_ui(True)
if mode == "timeout":  # the warm-up stays held: the waiting shots give up after this
    deferred.WARM_UP_TIMEOUT_SECONDS = 1.0
polled = bpy.ops.sequencer.shotcaller_generate_missing.poll()  # the Shots panel draws: the warm-up starts
held = gate.held.wait(60)
pressed = {
    "variation": sorted(bpy.ops.sequencer.shotcaller_variation()),  # D: the active shot
    "retry_failed": sorted(bpy.ops.sequencer.shotcaller_retry_failed()),  # C
    "generate_missing": sorted(bpy.ops.sequencer.shotcaller_generate_missing(quality="draft")),  # A and B
}
if mode == "undo":  # an edit after the presses, then undone with the rename before them
    scene.frame_end = 99
    bpy.ops.ed.undo_push(message="an edit")
    bpy.ops.ed.undo()
    bpy.ops.ed.undo()
    scene = bpy.context.scene  # an undo rebuilds the data: every Python reference to it is dead
    found = compat.all_strips(scene.sequence_editor)
    strips = {name: found.get(name) for name in "ABCD"}
twice = None
if mode == "timeout":  # Generate pressed on two of them before they were sent: not asked for twice
    strips["A"].select = strips["B"].select = True
    twice = sorted(bpy.ops.sequencer.shotcaller_generate(quality="draft"))
    strips["A"].select = strips["B"].select = False
still_running = warmup.running()
asked = list(gate.main_thread_asked)
waiting = {name: [s.shotcaller.status, s.shotcaller.message] for name, s in strips.items()}
cancel_possible = bpy.ops.sequencer.shotcaller_cancel_all.poll()
gave_up = None
if mode == "timeout":
    while deferred.submit_waiting() is not None:  # the timer, the warm-up still held
        time.sleep(0.05)
    gave_up = {name: [s.shotcaller.status, s.shotcaller.message] for name, s in strips.items()}
gate.release.set()
while deferred.submit_waiting() is not None:  # the timer, as Blender would call it in the UI
    time.sleep(0.05)
again = None
if mode == "timeout":
    pass
elif mode == "fail":
    strips["A"].select = True
    try:
        again = sorted(bpy.ops.sequencer.shotcaller_generate(quality="draft"))
    except RuntimeError as exc:  # headless, an ERROR report raises in the caller
        again = str(exc)
else:
    pump = importlib.import_module(module + ".mainthread.pump")
    run_pump_until_idle(pump, describe=lambda: str({n: s.shotcaller.message for n, s in strips.items()}))
ended = {name: [s.shotcaller.status, s.shotcaller.message, len(s.shotcaller.takes)] for name, s in strips.items()}
session = lazy.loaded("jobs.session")
if session is not None:
    session.close_session()
addon_utils.disable(module, default_set=True)
print("RESULT " + json.dumps({"polled": polled, "held": held, "timed_out": gate.timed_out, "pressed": pressed,
    "still_running": still_running, "asked": asked, "waiting": waiting, "cancel_possible": cancel_possible,
    "ended": ended, "again": again, "failure": warmup.failure(), "twice": twice, "gave_up": gave_up}))
"""
)


def run(mode, shotcaller_zip, tmp_path, comfyui_url):  # type: ignore[no-untyped-def]
    result = run_result(CHILD, str(shotcaller_zip), str(tmp_path), comfyui_url, mode, TESTS)
    assert result["polled"] and result["held"]
    assert not result["timed_out"], "the operators waited for the warm-up thread (the test held it 30 s)"
    return result


def test_operators_pressed_during_the_warm_up_return_at_once_and_their_shots_end_with_takes(
    shotcaller_zip, tmp_path, comfyui_url, blender
):
    result = run("hold", shotcaller_zip, tmp_path, comfyui_url)
    assert result["pressed"] == {name: ["FINISHED"] for name in ("variation", "retry_failed", "generate_missing")}
    # They returned while the warm-up thread was still held at its first module: they neither
    # imported the core on the main thread nor waited for the thread's import.
    assert result["still_running"]
    assert result["asked"] == []
    waiting = "waiting for Shotcaller to finish loading"
    assert result["waiting"] == {name: ["QUEUED", waiting] for name in "ABCD"}
    assert result["cancel_possible"]
    for name, (status, message, takes) in result["ended"].items():
        assert (status, takes) == ("DONE", 1), (name, message)
    assert result["failure"] is None


def test_shots_waiting_across_an_undo_are_waiting_again_and_end_with_takes(
    shotcaller_zip, tmp_path, comfyui_url, blender
):
    """An undo brings back the strips as they were before the presses (not waiting, "B" under its old
    name): the waiting shots are found again by shot id and marked waiting again, not passed over."""
    result = run("undo", shotcaller_zip, tmp_path, comfyui_url)
    assert result["pressed"] == {name: ["FINISHED"] for name in ("variation", "retry_failed", "generate_missing")}
    assert result["still_running"] and result["asked"] == []
    waiting = "waiting for Shotcaller to finish loading"
    assert result["waiting"] == {name: ["QUEUED", waiting] for name in "ABCD"}
    for name, (status, message, takes) in result["ended"].items():
        assert (status, takes) == ("DONE", 1), (name, message)


def test_shots_waiting_for_a_warm_up_that_never_ends_fail_and_say_what_to_do(
    shotcaller_zip, tmp_path, comfyui_url, blender
):
    """The warm-up held past the timeout (set to a second here): the waiting shots fail saying what to
    do instead of waiting for ever; a second press meanwhile asked for none of them again."""
    result = run("timeout", shotcaller_zip, tmp_path, comfyui_url)
    assert result["still_running"] and result["asked"] == []
    assert result["twice"] == ["CANCELLED"]  # both shots it was pressed on were waiting already
    for name, (status, message) in result["gave_up"].items():
        assert status == "FAILED", (name, message)
        assert "has not finished loading after 1 s" in message and "restart Blender" in message
    for name, (status, message, takes) in result["ended"].items():
        assert (status, takes) == ("FAILED", 0), (name, message)  # not sent later either


def test_a_failed_warm_up_fails_the_waiting_shots_and_says_what_to_do(shotcaller_zip, tmp_path, comfyui_url, blender):
    result = run("fail", shotcaller_zip, tmp_path, comfyui_url)
    assert result["still_running"] and result["asked"] == []
    assert result["failure"] == "ImportError: pydantic-core failed to load (the test broke it)"
    for name, (status, message, takes) in result["ended"].items():
        assert status == "FAILED" and takes == 0, (name, message)
        assert "could not finish loading (ImportError: pydantic-core failed to load" in message
        assert "Restart Blender" in message and "reinstall the extension" in message
    # Pressed again once it has failed: refused at once, with the same words, nothing imported.
    assert "could not finish loading" in str(result["again"])
