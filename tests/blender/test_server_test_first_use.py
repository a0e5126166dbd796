"""The preferences' Test button, pressed first in a fresh Blender, imports nothing heavy on the main
thread: the backend clients, the session's factories and pydantic are imported by the worker thread
that tests the server, and the finding is applied by operators/server_test.py's light timer
(follow_tests; not the pump, which imports the whole core). Checked in a fresh Blender process with the
UI emulated, against the reference ComfyUI server and a port nothing listens on; an import hook notes
which thread imported what."""

from __future__ import annotations

from fresh_process import FRESH_BLENDER, NOTING_IMPORTS, run_result

CHILD = (
    FRESH_BLENDER
    + r"""
url, index = sys.argv[3], int(sys.argv[4])
addon_utils.enable(module, default_set=True)
prefs = bpy.context.preferences.addons[module].preferences
for name, address in (("studio", url), ("dead", "http://127.0.0.1:9")):
    server = prefs.instances.add()
    server.kind, server.name, server.url = "comfyui", name, address

"""
    + NOTING_IMPORTS
    + r"""
lazy = importlib.import_module(module + ".addon.lazy")
server_test = importlib.import_module(module + ".operators.server_test")
lazy.emulate_ui(True)
sys.meta_path.insert(0, Noting())
pressed = bpy.ops.preferences.shotcaller_instance_test(index=index)
main_thread_imports = sorted({name for main, name in Noting.seen if main})
item = prefs.instances[index]
at_return = item.test_state
deadline = time.monotonic() + 60
while time.monotonic() < deadline:  # the UI timer that applies findings, called as Blender would (none fires headless)
    interval = server_test.follow_tests()
    if interval is None:
        break
    time.sleep(interval)
worker_imports = sorted({name for main, name in Noting.seen if not main})
result = {"pressed": sorted(pressed), "main": main_thread_imports, "worker": worker_imports,
    "at_return": at_return, "state": item.test_state, "report": item.test_report,
    "pump": module + ".mainthread.pump" in sys.modules}
addon_utils.disable(module, default_set=True)
print("RESULT " + json.dumps(result))
"""
)

HEAVY = ("pydantic", ".backends.", ".jobs.", ".routing.", ".mainthread.pump", ".shots", "concurrent.futures")


def heavy(names: list[str]) -> list[str]:
    return [name for name in names if name.startswith(HEAVY[0]) or any(part in name for part in HEAVY[1:])]


def test_the_first_test_of_a_server_runs_on_a_worker_and_says_what_it_found(
    shotcaller_zip, tmp_path, comfyui_url, blender
):
    result = run_result(CHILD, str(shotcaller_zip), str(tmp_path), comfyui_url, "0")
    assert result["pressed"] == ["FINISHED"]
    assert heavy(result["main"]) == [], result["main"]
    assert any(name.endswith(".backends.server_check") for name in result["worker"]), result["worker"]
    assert result["at_return"] == "RUNNING"
    assert not result["pump"]  # the finding came through the light timer
    assert result["state"] == "OK", result["report"]
    assert f"reachable at {comfyui_url}" in result["report"]
    assert "GB of video memory free" in result["report"] and "Wan 2.2 TI2V 5B" in result["report"]


def test_the_first_test_of_a_dead_server_says_nothing_listens_there(shotcaller_zip, tmp_path, comfyui_url, blender):
    result = run_result(CHILD, str(shotcaller_zip), str(tmp_path), comfyui_url, "1")
    assert result["pressed"] == ["FINISHED"]
    assert heavy(result["main"]) == [], result["main"]
    assert result["state"] == "FAILED", result["report"]
    assert "not reachable" in result["report"] and "connection refused" in result["report"]
    assert "--port 9" in result["report"]  # the hint names the port actually used
