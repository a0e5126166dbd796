"""tools/build.py --blender-binary: validate and build with a Blender program's own `--command extension`.

No Blender program is installed on these machines, so a stand-in executable answers exactly as
`blender --command extension ARGS` does: it runs the same `bl_pkg.cli_extension(ARGS)` inside a bpy
venv (which is what that command line runs inside Blender) and logs how it was called."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_build_with_a_blender_binary(tool, tmp_path):
    venvs = tool("venvs")
    bpy_python = venvs.venv_python("bpy-4.2")
    if not bpy_python.exists():
        pytest.skip("no bpy-4.2 venv to stand in for a Blender program")
    calls = tmp_path / "calls.log"
    blender = tmp_path / "blender"
    blender.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> "{calls}"\n'
        '[[ "$1" == "--command" && "$2" == "extension" ]] || { echo "not a --command call: $*" >&2; exit 2; }\n'
        "shift 2\n"
        f'exec "{bpy_python}" -c "import sys, bpy, bl_pkg; sys.exit(bl_pkg.cli_extension(sys.argv[1:]))" "$@"\n'
    )
    blender.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "SHOTCALLER_BLENDER_BINARY"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build.py"), "--blender-binary", str(blender), "--output-dir", tmp_path],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    zip_path = Path(proc.stdout.strip().splitlines()[-1])
    assert zip_path.parent == tmp_path and zipfile.is_zipfile(zip_path)
    verbs = [line.split()[2] for line in calls.read_text().splitlines()]
    assert verbs == ["validate", "build", "validate"]


def test_a_blender_binary_that_is_not_there_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build.py"), "--blender-binary", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert proc.returncode == 1 and "not an executable file" in proc.stderr
