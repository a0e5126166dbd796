"""Run a script in a fresh interpreter and read what it found: for checks a process that has imported
the core already cannot make (what enabling imports, what a warm-up thread imports). The script prints
one `RESULT <json>` line; under a bpy venv `sys.executable` is a fresh Blender."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

# A fresh Blender with its user folders in the temp dir argv[2] and the extension zip argv[1]
# installed (not enabled): `module` names it.
FRESH_BLENDER = r"""
import gc, importlib, json, os, sys, threading, time
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
"""

# An import hook for a fresh Blender's script: `Noting.seen` lists (on the main thread?, module) for every
# import from the moment `sys.meta_path.insert(0, Noting())`: which thread paid for which import.
NOTING_IMPORTS = r"""
class Noting:
    # Asked first for every import; finds nothing, only notes the thread that asked.
    seen = []
    def find_spec(self, name, path=None, target=None):
        self.seen.append((threading.current_thread() is threading.main_thread(), name))
        return None
"""


def run_result(script: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert results, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(results[-1][len("RESULT ") :])
