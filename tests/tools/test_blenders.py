"""tools/blenders.py is the one table of supported Blenders; tools/venvs.py and tools/test.sh follow it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_supported_blender_and_its_python(tool):
    blenders = tool("blenders")
    assert [(b.series, b.python) for b in blenders.BLENDERS] == [
        ("4.2", "3.11"),
        ("4.5", "3.11"),
        ("5.0", "3.11"),
        ("5.1", "3.13"),
        ("5.2", "3.13"),
        ("5.3", "3.13"),
    ]
    assert blenders.pythons() == ["3.11", "3.13"]
    assert blenders.newest().series == "5.3"


def test_each_blender_gets_a_venv_and_a_test_stage(tool):
    blenders = tool("blenders")
    venvs = tool("venvs")
    for b in blenders.BLENDERS:
        spec = venvs.VENVS[b.venv]
        assert spec.python == b.python and spec.extra == (f"bpy=={b.bpy}",)
        assert (ROOT / "tools" / spec.requirements).is_file()
    stages = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "blenders.py"), "stages"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert stages == [f"blender-{b.series}" for b in blenders.BLENDERS]
    usage = subprocess.run(["bash", str(ROOT / "tools" / "test.sh"), "no-such-stage"], capture_output=True, text=True)
    assert usage.returncode == 2 and "blender-5.3" in usage.stderr and "blender-4.2" in usage.stderr


def test_a_missing_python_says_what_was_tried_and_what_to_do(tool, monkeypatch, tmp_path):
    venvs = tool("venvs")
    monkeypatch.setenv("PATH", str(tmp_path))  # no python3.99 anywhere
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.delenv("SHOTCALLER_PYTHON_3_99", raising=False)
    try:
        venvs.find_base_python("3.99")
    except SystemExit as exc:
        message = str(exc)
    else:
        raise AssertionError("found a Python 3.99")
    assert "no CPython 3.99 found" in message and "$SHOTCALLER_PYTHON_3_99" in message
    assert "pyenv install 3.99" in message


def test_pyenv_versions_are_found_when_the_shim_is_not_selected(tool, monkeypatch, tmp_path):
    venvs = tool("venvs")
    fake = tmp_path / "pyenv" / "versions" / "3.11.9" / "bin" / "python3.11"
    fake.parent.mkdir(parents=True)
    fake.symlink_to(sys.executable)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    assert venvs._pyenv_pythons("3.11") == [str(fake)]
