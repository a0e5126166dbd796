"""Enabling the add-on imports none of the heavy core (pydantic, the backend clients, the scheduler),
starts no thread and leaves Python's garbage collector as it was: checked in a fresh Blender
process, since this one has imported them already."""

from __future__ import annotations

from fresh_process import FRESH_BLENDER, run_result

CHILD = (
    FRESH_BLENDER
    + r"""
threads = threading.active_count()
addon_utils.enable(module, default_set=True)
enabled = bool(addon_utils.check(module)[1])
heavy = sorted(
    name for name in sys.modules
    if name == "pydantic" or name.startswith("websocket")
    or any(name == f"{module}.{core}" or name.startswith(f"{module}.{core}.") for core in
    ("shots", "jobs", "mainthread.pump", "mainthread.submission", "backends", "routing", "writing"))
)
started = threading.active_count() - threads
frozen = gc.get_freeze_count()
addon_utils.disable(module, default_set=True)
print("RESULT " + json.dumps({"enabled": enabled, "heavy": heavy, "threads": started, "frozen": frozen}))
"""
)


def test_enabling_imports_no_core_module_and_starts_no_thread(shotcaller_zip, tmp_path, blender):
    result = run_result(CHILD, str(shotcaller_zip), str(tmp_path))
    assert result["enabled"]
    assert result["heavy"] == []
    assert result["threads"] == 0
    assert result["frozen"] == 0  # the collector is left alone until the first Generate (jobs/collector.py)
