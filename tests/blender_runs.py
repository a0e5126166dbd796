"""Command lines for a Blender of its own (tools/blender_run.py): under a bpy venv, a fresh Blender that
opens a .blend and runs a script with the arguments after `--`, as `blender -b film --python script`."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def blender_run(film: Path, script: Path, *args: str) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "tools" / "blender_run.py"), str(film), str(script), "--", *args]


def batch_command(batch: Path, film: Path, url: str, takes: Path, report: Path, *more: str) -> list[str]:
    """The headless batch (`batch`, an installed batch.py) making draft takes of `film`'s shots on the
    ComfyUI at `url` into `takes`, its JSON report in `report`."""
    draft = ("--quality", "draft", "--comfyui-url", url, "--output-dir", str(takes), "--report", str(report))
    return blender_run(film, batch, *draft, *more)
