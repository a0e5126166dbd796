"""Enabling the add-on imports none of the heavy core (pydantic, the backend clients, the scheduler),
starts no thread and leaves Python's garbage collector as it was: checked in a fresh Blender
process, since this one has imported them already."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import gc, json, os, sys, threading
root = sys.argv[2]
for sub in ("home", "user", "extensions"):
    os.makedirs(os.path.join(root, sub), exist_ok=True)
os.environ["HOME"] = os.path.join(root, "home")
os.environ["BLENDER_USER_RESOURCES"] = os.path.join(root, "user")
os.environ["BLENDER_USER_EXTENSIONS"] = os.path.join(root, "extensions")
import bpy
import addon_utils
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default", enable_on_install=False)
module = "bl_ext.user_default.shotcaller"
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


def test_enabling_imports_no_core_module_and_starts_no_thread(shotcaller_zip, tmp_path, blender):
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(shotcaller_zip), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert results, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(results[-1][len("RESULT ") :])
    assert result["enabled"]
    assert result["heavy"] == []
    assert result["threads"] == 0
    assert result["frozen"] == 0  # the collector is left alone until the first Generate (jobs/collector.py)
