"""The demo: a storyboard becomes an edit with generated takes, without a GPU or a Blender window.

    bash tools/demo.sh          (ensures the venvs, builds the extension, then runs this)

Starts the reference ComfyUI and Wan2GP servers on loopback (a pool Shotcaller routes
across), installs the built extension into a private Blender user folder, makes demo_out/film.blend from
samples/storyboard.json, runs the headless batch exactly as
`blender -b film.blend --python <extension>/batch.py -- ...` would, and renders
the edit to demo_out/preview.mp4.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from devservers.comfyui.launch import start_server  # noqa: E402
from devservers.wan2gp.launch import start_server as start_wan2gp  # noqa: E402


def run(command: list[str], env: dict[str, str], hide: str = "") -> None:
    """Runs a step, printing its output; lines containing `hide` are counted rather than printed."""
    print("$ " + " ".join(command), flush=True)
    if not hide:
        subprocess.run(command, env=env, check=True, cwd=ROOT)
        return
    hidden = 0
    with subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if hide in line:
                hidden += 1
            else:
                print(line, end="", flush=True)
    if hidden:
        print(f"({hidden} lines '{hide} ...' not shown)", flush=True)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, command)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", required=True, help="the built extension zip")
    parser.add_argument("--blender-python", required=True, help="python of a bpy venv")
    parser.add_argument("--out", default=os.path.join(ROOT, "demo_out"))
    parser.add_argument("--quality", choices=("draft", "final"), default="draft")
    parser.add_argument("--step-seconds", type=float, default=0.05, help="reference server time per sampler step")
    args = parser.parse_args()

    out = os.path.abspath(args.out)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    env = dict(os.environ)
    env["HOME"] = os.path.join(out, "blender_home")
    env["BLENDER_USER_EXTENSIONS"] = os.path.join(out, "blender_home", "extensions")
    os.makedirs(env["BLENDER_USER_EXTENSIONS"])
    blender = [args.blender_python, os.path.join(ROOT, "tools", "demo_blender.py")]
    film = os.path.join(out, "film.blend")
    report = os.path.join(out, "report.json")

    started = time.monotonic()
    server = start_server(os.path.join(out, "comfyui"), step_seconds=args.step_seconds)
    wan2gp = start_wan2gp(os.path.join(out, "wan2gp"), step_seconds=args.step_seconds)
    try:
        print(f"reference ComfyUI server at {server.url}, reference Wan2GP server at {wan2gp.mcp_url}", flush=True)
        run([*blender, "install", os.path.abspath(args.zip)], env)
        run([*blender, "make-film", os.path.join(ROOT, "samples", "storyboard.json"), film], env)
        batch = os.path.join(env["BLENDER_USER_EXTENSIONS"], "user_default", "shotcaller", "batch.py")
        command = [args.blender_python, os.path.join(ROOT, "tools", "blender_run.py"), film, batch, "--"]
        command += ["--quality", args.quality, "--report", report, "--save"]
        command += ["--server", f"comfyui={server.url}", "--server", f"wan2gp={wan2gp.mcp_url}"]
        print("$ " + " ".join(command), flush=True)
        batch_result = subprocess.run(command, env=env, cwd=ROOT)
    finally:
        server.stop()
        wan2gp.stop()
    if batch_result.returncode != 0:
        print(f"demo: the batch failed (exit {batch_result.returncode}); see {report}", file=sys.stderr)
        return batch_result.returncode
    preview = os.path.join(out, "preview.mp4")
    run([*blender, "render", film, preview], env, hide="Video append frame")  # Blender's line per frame

    with open(report, encoding="utf-8") as handle:
        shots = json.load(handle)["shots"]
    print("\nShotcaller demo finished in %.1f s" % (time.monotonic() - started))
    for shot in shots:
        print(f"  {shot['name']:<18} {shot['status']:<6} {shot['backend']:<28} {shot['timeline']}")
    print(f"  edit with takes: {film}\n  preview of the edit: {preview}\n  report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
