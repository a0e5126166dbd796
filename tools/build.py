#!/usr/bin/env python3
"""Build the Shotcaller extension zip with Blender's own tooling (stdlib only).

    python3 tools/build.py [--blender SERIES] [--output-dir dist] [--python BPY_PYTHON]
    python3 tools/build.py --blender-binary /path/to/blender     # your own Blender, no bpy venv

1. Ensures the bundled wheels (tools/wheels.py) for every Python of tools/blenders.py, writes the
   manifest's wheels list from them, and fails (naming wheel, Python and platform) when a binary
   wheel does not cover them all: a check Blender's validator does not make.
2. Validates the source folder with Blender's validator, tags included: the same code as
   `blender --command extension validate`, i.e. `bl_pkg.cli_extension([...])` run inside a bpy
   venv's python (a subprocess, with HOME and Blender's user dirs in a temp dir), or that very
   command of a real Blender with --blender-binary.
3. Builds `<output-dir>/shotcaller-<version>.zip` with `bl_pkg.cli_extension(["build", ...])`.
4. Validates the zip the same way and checks that no development-only path got into it.

Logs go to stderr; the zip's absolute path is the only line on stdout:
    ZIP=$(python3 tools/build.py)
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
# Sibling scripts, imported by name at run time (a root-level wheels/ folder would otherwise make
# import sorting depend on whether wheels were downloaded yet).
venvs = importlib.import_module("venvs")
wheels = importlib.import_module("wheels")
blenders = importlib.import_module("blenders")

# Top-level names that must never ship. Kept in step with [build] paths_exclude_pattern.
DEV_ONLY_TOP = {
    "tests",
    "devservers",
    "bench",
    "tools",
    ".ci",
    ".git",
    "build",
    "dist",
    "demo_out",
    "samples",
    "pyproject.toml",
    ".gitignore",
    "Makefile",
}

# Runs inside a bpy venv: exactly what `blender --command extension ARGS` runs.
CLI = """\
import sys
import bpy  # noqa: F401  (puts Blender's scripts/addons_core on sys.path)
import bl_pkg
sys.stdout.flush()
rc = bl_pkg.cli_extension(sys.argv[1:])
sys.stdout.flush()
sys.exit(rc)
"""


def log(msg: str) -> None:
    print(f"build: {msg}", file=sys.stderr, flush=True)


def blender_cli(command: list[str], args: list[str], home: str) -> tuple[int, str]:
    """Run Blender's extension CLI: `command` is [bpy_python, "-c", CLI] or [blender, "--command", "extension"]."""
    env = dict(os.environ)
    env.update(
        HOME=home,
        BLENDER_USER_RESOURCES=os.path.join(home, "blender"),
        BLENDER_USER_EXTENSIONS=os.path.join(home, "blender", "extensions"),
    )
    proc = subprocess.run(
        [*command, *args],
        cwd=str(ROOT),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def zip_problems(zip_path: Path, manifest: dict) -> list[str]:
    problems = []
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
    for n in names:
        parts = n.split("/")
        if parts[0] in DEV_ONLY_TOP or "__pycache__" in parts or n.endswith(".pyc"):
            problems.append(f"development-only path in zip: {n}")
    for w in manifest.get("wheels") or []:
        if w.removeprefix("./") not in names:
            problems.append(f"wheel missing from zip: {w}")
    for required in ("blender_manifest.toml", "__init__.py"):
        if required not in names:
            problems.append(f"missing from zip: {required}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--blender",
        default=os.environ.get("SHOTCALLER_BUILD_BLENDER", blenders.BLENDERS[0].series),
        choices=[b.series for b in blenders.BLENDERS],
        help=f"which bpy venv runs Blender's CLI (default {blenders.BLENDERS[0].series})",
    )
    ap.add_argument("--python", help="a python with bpy to run Blender's CLI (skips venv ensure)")
    ap.add_argument(
        "--blender-binary",
        default=os.environ.get("SHOTCALLER_BLENDER_BINARY"),
        help="a Blender executable (4.2+): validate and build with its own `--command extension`",
    )
    ap.add_argument("--output-dir", default=str(ROOT / "dist"))
    ap.add_argument("--skip-wheels", action="store_true", help="do not download wheels (they must be present)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()

    # 1. wheels
    if args.skip_wheels:
        rc = wheels.main(["check"])
    else:
        rc = wheels.main(["ensure"] + (["--pip-python", args.python] if args.python else []))
    if rc != 0:
        log("wheels are not consistent with the manifest; aborting")
        return 1

    # 2. who runs Blender's extension CLI
    if args.blender_binary:
        binary = Path(args.blender_binary).expanduser()
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            log(f"--blender-binary {binary}: not an executable file")
            return 1
        command = [str(binary.resolve()), "--command", "extension"]
        log(f"Blender's CLI: {binary} --command extension")
    else:
        if args.python:
            bpy_python = args.python
        else:
            name = f"bpy-{args.blender}"
            if not venvs.ensure([name], quiet=True):
                log(f"could not prepare the {name} venv")
                return 1
            bpy_python = str(venvs.venv_python(name))
        command = [bpy_python, "-c", CLI]

    with open(ROOT / "blender_manifest.toml", "rb") as fh:
        manifest = tomllib.load(fh)
    out_dir = Path(args.output_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{manifest['id']}-{manifest['version']}.zip"

    with tempfile.TemporaryDirectory(prefix="shotcaller-build-") as home:
        # 3. validate the source folder (tags checked: bl_pkg passes Blender's tags.py)
        rc, out = blender_cli(command, ["validate", str(ROOT)], home)
        if rc != 0 or "Success" not in out:
            log(f"validate of the source folder FAILED (rc {rc}):\n{out}")
            return 1
        log(f"validate source: {out.splitlines()[-1]}")

        # 4. build
        if zip_path.exists():
            zip_path.unlink()
        rc, out = blender_cli(command, ["build", "--source-dir", str(ROOT), "--output-dir", str(out_dir)], home)
        if rc != 0 or not zip_path.exists():
            log(f"build FAILED (rc {rc}):\n{out}")
            return 1
        log(f"build: {out.splitlines()[-1] if out else 'ok'}")

        # 5. validate the zip
        rc, out = blender_cli(command, ["validate", str(zip_path)], home)
        if rc != 0 or "Success" not in out:
            log(f"validate of the zip FAILED (rc {rc}):\n{out}")
            return 1
        log(f"validate zip: {out.splitlines()[-1]}")

    problems = zip_problems(zip_path, manifest)
    if problems:
        for p in problems:
            log(p)
        return 1
    with zipfile.ZipFile(zip_path) as zf:
        count = len(zf.namelist())
    log(
        f"{zip_path.name}: {count} files, {zip_path.stat().st_size / 1e6:.1f} MB, built in {time.monotonic() - t0:.1f}s"
    )
    print(zip_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
