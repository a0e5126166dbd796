"""The sidebar's first poll of the Generate button starts the core's import on a worker thread, and
only outside background mode: checked in a fresh Blender process, since this one has imported the
core already."""

from __future__ import annotations

from fresh_process import FRESH_BLENDER, run_result

SETUP = (
    FRESH_BLENDER
    + r"""
addon_utils.enable(module, default_set=True)
prefs = bpy.context.preferences.addons[module].preferences
"""
)

CHILD = (
    SETUP
    + r"""
server = prefs.instances.add()
server.kind, server.url = "wan2gp", "http://127.0.0.1:9/mcp/"
threads = threading.active_count()
scene = bpy.context.scene
scene.sequence_editor_create()
polled = bpy.ops.sequencer.shotcaller_generate.poll()  # background: the operator imports the core itself
def core():
    parts = ("shots", "jobs", "backends")
    return sorted(n for n in sys.modules if n.startswith(module + ".") and n.split(".")[3] in parts)
after_poll = {"threads": threading.active_count() - threads, "core": core()}
generate = importlib.import_module(module + ".operators.generate")
warmup = importlib.import_module(module + ".addon.warmup")
started = generate.warm_up(bpy.context)  # what the poll does when the sidebar draws in the UI
finished = warmup.wait(120)
again = generate.warm_up(bpy.context)
loaded = core()
addon_utils.disable(module, default_set=True)
print("RESULT " + json.dumps({"polled": polled, "after_poll": after_poll, "started": started, "finished": finished,
    "again": again, "loaded": [n[len(module) + 1:] for n in loaded]}))
"""
)


def test_the_sidebars_poll_imports_the_core_on_a_thread_for_the_servers_kinds(shotcaller_zip, tmp_path, blender):
    result = run_result(CHILD, str(shotcaller_zip), str(tmp_path))
    assert result["polled"]
    assert result["after_poll"] == {"threads": 0, "core": []}
    assert result["started"] and result["finished"]
    assert not result["again"]
    loaded = set(result["loaded"])
    assert {"shots", "jobs.session", "jobs.journal", "backends.wan2gp.backend"} <= loaded
    assert "backends.comfyui.backend" not in loaded  # the list names a Wan2GP server only


PRESSED_DURING_WARM_UP = (
    SETUP
    + r"""
prefs.comfyui_url = "http://127.0.0.1:9"  # nothing listens: the shots are submitted, then fail
prefs.output_folder = os.path.join(root, "takes")
scene = bpy.context.scene
scene.sequence_editor_create()
compat = importlib.import_module(module + ".sequencer.compat")
strips = [compat.new_color_strip(scene.sequence_editor, name, 1, 1 + 10 * n, 9) for n, name in enumerate("ABC")]
for strip in strips:
    strip.shotcaller.prompt, strip.select = "rain on a window", False
generate = importlib.import_module(module + ".operators.generate")
warmup = importlib.import_module(module + ".addon.warmup")
generate.warm_up(bpy.context)
strips[0].select = strips[1].select = True
first = bpy.ops.sequencer.shotcaller_generate(quality="draft")
strips[0].select = strips[1].select = False
strips[2].select = True
second = bpy.ops.sequencer.shotcaller_generate(quality="final")
running = warmup.running()
imported_by_operator = "mainthread.submission" in [n[len(module) + 1:] for n in sys.modules]
generating = sorted(s.name for s in generate.generating_strips(scene))
withdrawn = generate.cancel_strips(scene, [strips[2]])  # Cancel before the shot was ever submitted
polls = 0
while generate.submit_deferred() is not None:  # the timer, as Blender would call it in the UI
    polls += 1
    time.sleep(0.05)
submission = importlib.import_module(module + ".mainthread.submission")
waiting = set(submission.waiting_names(scene.name))
shots = {s.name: {"job": bool(s.shotcaller.job_id) or s.name in waiting, "status": s.shotcaller.status} for s in strips}
importlib.import_module(module + ".jobs.session").close_session()
addon_utils.disable(module, default_set=True)
print("RESULT " + json.dumps({"first": sorted(first), "second": sorted(second), "running": running,
    "imported_by_operator": imported_by_operator, "generating": generating, "withdrawn": withdrawn,
    "shots": shots}))
"""
)


def test_generate_pressed_during_the_warm_up_is_submitted_once_the_core_is_in(shotcaller_zip, tmp_path, blender):
    result = run_result(PRESSED_DURING_WARM_UP, str(shotcaller_zip), str(tmp_path))
    assert result["running"], "the warm-up finished before the test could press Generate"
    assert result["first"] == result["second"] == ["FINISHED"]
    assert not result["imported_by_operator"]  # the operator did not wait for the core
    assert result["generating"] == ["A", "B", "C"]
    assert result["withdrawn"] == 1
    assert result["shots"]["A"]["job"] and result["shots"]["B"]["job"]
    assert result["shots"]["C"] == {"job": False, "status": "NONE"}
