"""The first press of Generate Missing in a fresh Blender: `python bench/blender_first_use.py --zip ZIP
--dev-python DEV`, run by a bpy venv's python (tools/bench.sh does it). Prints `name: value unit` lines.

Each press is timed on the main thread in a Blender process of its own (the extension installed from
the built zip once, its bytecode compiled by a first process that is not timed), four ways:

- `no_deferral`: nothing warmed up, the operator imports the core itself (what the headless bpy
  module still does, and what the UI did before the warm-up);
- `without_deferral`: the UI emulated (lazy.emulate_ui), the warm-up started by the Shots panel's
  poll, and the press made as the operator made it before operators/deferred.py: straight into
  submit_strips, which imports the core on the main thread or waits for the warm-up's import of it;
- `deferred`: the same, through the operator: its shots wait for the warm-up. The timer that submits
  them, and the pump's ticks after it, are timed too, until every shot is DONE against the reference
  ComfyUI server (so the deferred shots are shown to be generated, not only deferred);
- `after_warmup`: the UI emulated, pressed once the warm-up has finished (what a user pressing a
  second or two after the sidebar first drew gets: the operator imports the Blender-layer modules
  on top of the core and submits as it always has).

Beside each press, in the same process just before it, a fixed pure-Python workload (the control).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.blender_drain import FRAME_MS, control_workload, line, percentile, private_blender_dirs  # noqa: E402

MODULE = "bl_ext.user_default.shotcaller"
MODES = ("no_deferral", "without_deferral", "deferred", "after_warmup")
CONTROL_ROUNDS = 40_000  # about 3 ms on a quiet machine: a frame's share of work


def timed_timer(callback: Callable[[], float | None], timeout: float) -> tuple[list[float], bool]:
    """A Blender timer as Blender calls it: `callback()`, timed (ms) every call, then a sleep of what it
    returns, until it returns None (True) or `timeout` seconds have passed (False)."""
    ticks: list[float] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        began = time.perf_counter()
        again = callback()
        ticks.append((time.perf_counter() - began) * 1000)
        if again is None:
            return ticks, True
        time.sleep(again)
    return ticks, False


def child(mode: str, zip_path: str, comfyui_url: str, shots: int) -> dict[str, float]:
    """One fresh Blender: enable, make `shots` shots, press Generate Missing the `mode` way."""
    import bpy

    addon_utils = importlib.import_module("addon_utils")  # importable only once bpy is
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if mode == "install":  # installs, and compiles the bytecode the timed processes start from
        assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
        warmup = importlib.import_module(f"{MODULE}.addon.warmup")
        warmup.start(["comfyui"])
        warmup.wait(120)
        importlib.import_module(f"{MODULE}.mainthread.submission")
        importlib.import_module(f"{MODULE}.mainthread.pump")
        addon_utils.disable(MODULE, default_set=True)
        return {}
    addon_utils.enable(MODULE, default_set=True)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.comfyui_url = comfyui_url
    prefs.output_folder = str(Path(tempfile.mkdtemp(prefix="shotcaller-first-use-")) / "takes")
    scene = bpy.context.scene
    scene.sequence_editor_create()
    if hasattr(bpy.context.workspace, "sequencer_scene"):  # Blender 5.0+
        bpy.context.workspace.sequencer_scene = scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 64, 100
    compat = importlib.import_module(f"{MODULE}.sequencer.compat")
    strips = []
    for i in range(shots):
        strip = compat.new_color_strip(scene.sequence_editor, f"Shot {i:03d}", 1 + i % 30, 1 + 10 * (i // 30), 9)
        strip.shotcaller.prompt = f"shot {i}, rain on a window"
        strips.append(strip)
    bpy.context.view_layer.update()
    lazy = importlib.import_module(f"{MODULE}.addon.lazy")
    warmup = importlib.import_module(f"{MODULE}.addon.warmup")
    result: dict[str, float] = {}
    if mode != "no_deferral":
        lazy.emulate_ui(True)
        assert bpy.ops.sequencer.shotcaller_generate_missing.poll()  # the Shots panel draws: the warm-up starts
        if mode == "after_warmup":
            assert warmup.wait(120) and warmup.failure() is None
    controls = []
    for _ in range(5):
        began = time.perf_counter()
        control_workload(CONTROL_ROUNDS)
        controls.append((time.perf_counter() - began) * 1000)
    result["control"] = percentile(controls, 50)
    result["during_warmup"] = float(warmup.running())
    began = time.perf_counter()
    if mode == "without_deferral":  # Generate Missing's body before operators/deferred.py
        from_submission = importlib.import_module(f"{MODULE}.mainthread.submission")
        from_submission.submit_strips(scene, strips, "draft", budget_seconds=from_submission.SUBMIT_BUDGET_SECONDS)
        lazy.ensure_timer()
    else:
        assert bpy.ops.sequencer.shotcaller_generate_missing(quality="draft") == {"FINISHED"}
    result["press"] = (time.perf_counter() - began) * 1000
    if mode == "deferred":
        deferred = importlib.import_module(f"{MODULE}.operators.deferred")
        waited = time.perf_counter()
        ticks, submitted = timed_timer(deferred.submit_waiting, 120)  # every 50 ms until the warm-up is done
        assert submitted, "the deferred shots were not submitted within 120 s"
        result["submit_tick"] = ticks[-1]
        result["waiting_tick_max"] = max(ticks[:-1], default=0.0)
        result["waited"] = time.perf_counter() - waited
        pump = importlib.import_module(f"{MODULE}.mainthread.pump")
        pump_ticks, _ = timed_timer(pump.tick, 120)  # the shots are counted DONE below
        result["pump_tick_max"] = max(pump_ticks, default=0.0)
        result["done"] = float(sum(1 for s in strips if s.shotcaller.status == "DONE" and len(s.shotcaller.takes)))
    session = lazy.loaded("jobs.session")
    if session is not None:
        session.close_session()
    addon_utils.disable(MODULE, default_set=True)
    return result


def run_child(root: Path, mode: str, zip_path: Path, comfyui_url: str, shots: int) -> dict[str, float]:
    args = [sys.executable, __file__, "--child", mode, "--zip", str(zip_path), "--root", str(root)]
    args += ["--comfyui-url", comfyui_url, "--shots", str(shots)]
    # A user's Blender keeps the bytecode its first start compiled: so does the untimed install round here.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, env=env)
    for out in proc.stdout.splitlines():
        if out.startswith("FIRST_USE "):
            return json.loads(out[len("FIRST_USE ") :])
    raise RuntimeError(f"first-use measurement {mode} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zip", help="the built extension (tools/build.py)")
    parser.add_argument("--dev-python", help="the dev venv's python, to run the reference ComfyUI server")
    parser.add_argument("--rounds", type=int, default=3, help="fresh Blender processes per way of pressing")
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--comfyui-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        private_blender_dirs(Path(args.root))
        print("FIRST_USE " + json.dumps(child(args.child, args.zip, args.comfyui_url or "", args.shots)), flush=True)
        return 0
    if not args.zip or not args.dev_python:
        parser.error("--zip and --dev-python are required")
    zip_path = Path(args.zip).resolve()
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from reference_servers import reference_server_process

    with tempfile.TemporaryDirectory(prefix="shotcaller-bench-first-use-") as tmp:
        root = Path(tmp)
        output = root / "comfyui"
        output.mkdir()
        with reference_server_process(
            args.dev_python, "comfyui", "--output-dir", str(output), "--step-seconds", "0.01"
        ) as server:
            threading.Thread(target=lambda: server.process.stdout.read(), daemon=True).start()  # never blocks it
            run_child(root / "blender", "install", zip_path, server.url, args.shots)
            results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
            for _ in range(args.rounds):  # interleaved, so a busy spell of the machine falls on every way
                for mode in MODES:
                    results[mode].append(run_child(root / "blender", mode, zip_path, server.url, args.shots))
    emit(results, args.shots)
    return 0


def emit(results: dict[str, list[dict[str, float]]], shots: int) -> None:
    def median(mode: str, key: str) -> float:
        return percentile([r[key] for r in results[mode]], 50)

    prefix = "first_use"
    control = percentile([r["control"] for rs in results.values() for r in rs], 50)
    line(f"{prefix}_control", control, "ms")
    for mode in MODES:
        line(f"{prefix}_press_{mode}", median(mode, "press"), "ms")
        line(f"{prefix}_press_{mode}_max", max(r["press"] for r in results[mode]), "ms")
        line(f"{prefix}_press_{mode}_vs_frame", median(mode, "press") / FRAME_MS, "x")
        line(f"{prefix}_press_{mode}_vs_control", median(mode, "press") / max(1e-9, median(mode, "control")), "x")
    line(
        f"{prefix}_press_after_warmup_vs_no_deferral",
        median("after_warmup", "press") / max(1e-9, median("no_deferral", "press")),
        "x",
    )
    for mode in ("without_deferral", "deferred"):
        line(f"{prefix}_press_{mode}_during_warmup", sum(r["during_warmup"] for r in results[mode]), "presses")
    baseline = max(1e-9, median("no_deferral", "press"))
    line(f"{prefix}_press_deferred_vs_no_deferral", median("deferred", "press") / baseline, "x")
    line(f"{prefix}_press_without_deferral_vs_no_deferral", median("without_deferral", "press") / baseline, "x")
    line(f"{prefix}_deferred_submit_tick", median("deferred", "submit_tick"), "ms")
    line(f"{prefix}_deferred_submit_tick_max", max(r["submit_tick"] for r in results["deferred"]), "ms")
    line(f"{prefix}_deferred_waiting_tick_max", max(r["waiting_tick_max"] for r in results["deferred"]), "ms")
    line(f"{prefix}_deferred_waited_for_warmup", median("deferred", "waited"), "s")
    line(f"{prefix}_deferred_pump_tick_max", max(r["pump_tick_max"] for r in results["deferred"]), "ms")
    line(f"{prefix}_deferred_shots_done", min(r["done"] for r in results["deferred"]), "shots")
    line(f"{prefix}_deferred_shots", shots, "shots")


if __name__ == "__main__":
    sys.exit(main())
