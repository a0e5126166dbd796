"""The package layout tells the pure core from the Blender layer (DESIGN.md, README "Architecture")."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ("shots", "routing", "backends", "jobs", "writing")
BLENDER_LAYER = ("addon", "settings", "operators", "panels", "mainthread", "sequencer", "headless")
ROOT_FILES = {"__init__.py", "batch.py", "blender_manifest.toml", "README.md", "pyproject.toml"}  # + dotfiles


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_root_holds_only_the_entry_points_and_folders():
    files = {
        p.name
        for p in ROOT.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".zip", ".blend1"))
    }
    assert files <= ROOT_FILES, f"move {sorted(files - ROOT_FILES)} into the folder named for what it is"


def test_the_core_never_imports_blender():
    offenders = [
        str(path.relative_to(ROOT))
        for folder in CORE
        for path in (ROOT / folder).rglob("*.py")
        if imported_modules(path) & {"bpy", "addon_utils", "mathutils", "gpu"}
    ]
    assert offenders == []


def test_every_python_folder_is_either_core_or_blender_layer():
    shipped = {p.name for p in ROOT.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    dev_only = {"tests", "devservers", "bench", "tools", "build", "dist"}
    assert shipped - dev_only == set(CORE) | set(BLENDER_LAYER)
