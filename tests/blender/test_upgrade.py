"""An installed Shotcaller survives a Blender upgrade: installed by the newest Blender on Python 3.11
into a user folder, the same folder opened by this (newer, Python 3.13) Blender enables it and generates.

Blender installs an extension's wheels for the Python that runs at install time
(`.local/lib/python3.11/site-packages`); the next Blender must bring its own Python's copies from the
same zip. Runs in the newest Blender's stage only (it starts two Blender processes).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from blender_runs import batch_command

REPO_ROOT = Path(__file__).resolve().parents[2]


def _tools(name: str):
    spec = importlib.util.spec_from_file_location(f"shotcaller_tools_{name}", REPO_ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


blenders = _tools("blenders")
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
OLDER = [b for b in blenders.BLENDERS if b.python != RUNNING]

INSTALL_AND_MAKE_A_SHOT = textwrap.dedent(
    """
    import sys

    import bpy
    import addon_utils

    zip_path, film = sys.argv[1], sys.argv[2]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True) == {"FINISHED"}
    module = "bl_ext.user_default.shotcaller"
    compat = __import__(module + ".sequencer.compat", fromlist=["compat"])
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.fps = 480, 272, 24
    scene.sequence_editor_create()
    strip = compat.new_color_strip(scene.sequence_editor, "Harbour", 1, 1, 24)
    strip.shotcaller.prompt = "a harbour at dawn, fishing boats"
    strip.shotcaller.media = "image"
    bpy.ops.wm.save_as_mainfile(filepath=film)
    addon_utils.disable(module, default_set=False)
    print("INSTALLED", bpy.app.version_string, flush=True)
    """
)


@pytest.mark.skipif(blenders.newest().python != RUNNING or not OLDER, reason="runs in the newest Blender's stage")
def test_installed_under_an_older_blender_then_opened_by_this_one(shotcaller_zip, comfyui_url, tmp_path):
    older = OLDER[-1]
    real_home = os.environ.get("SHOTCALLER_REAL_HOME") or os.environ["HOME"]  # conftest moved HOME
    venvs_root = Path(os.environ.get("SHOTCALLER_VENVS") or Path(real_home, ".cache", "shotcaller", "venvs"))
    older_python = venvs_root / older.venv / "bin" / "python"
    if not older_python.exists():
        pytest.skip(f"no {older.venv} venv (python3 tools/venvs.py ensure {older.venv})")
    env = dict(os.environ)
    env.update(
        HOME=str(tmp_path / "home"),
        BLENDER_USER_RESOURCES=str(tmp_path / "user"),
        BLENDER_USER_EXTENSIONS=str(tmp_path / "extensions"),
    )
    film = tmp_path / "film.blend"
    first = subprocess.run(
        [str(older_python), "-c", INSTALL_AND_MAKE_A_SHOT, str(shotcaller_zip), str(film)],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert first.returncode == 0 and "INSTALLED" in first.stdout, first.stdout + first.stderr
    local = tmp_path / "extensions" / ".local" / "lib"
    assert [p.name for p in local.iterdir()] == [f"python{older.python}"]

    batch = tmp_path / "extensions" / "user_default" / "shotcaller" / "batch.py"
    report = tmp_path / "report.json"
    second = subprocess.run(
        batch_command(batch, film, comfyui_url, tmp_path / "takes", report),
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "1 of 1 shot(s) got a take" in second.stdout, second.stdout
    shot = json.loads(report.read_text())["shots"][0]
    assert shot["status"] == "done" and all(Path(f).is_file() for f in shot["take_files"])
    site = local / f"python{RUNNING}" / "site-packages"
    assert list(site.glob("pydantic_core-*.dist-info")), f"no wheels for Python {RUNNING} in {local}"
