"""The Blender benchmark runs end to end and prints `name: value unit` lines (no timing assertions).

It runs in its own bpy process (it installs the extension into private folders of its own), once
per test run: on Blender 5.0 only, to keep the other stages short.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

LINE = re.compile(r"^[a-z0-9_]+: -?[0-9.e+-]+ [a-z]+$")


def run_bench(blender_helpers, script: str, shotcaller_zip, dev_python: str, *args: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Runs one of bench/'s Blender benchmarks to the end; its figures by name."""
    path = blender_helpers.REPO_ROOT / "bench" / script
    command = [sys.executable, str(path), "--zip", str(shotcaller_zip), "--dev-python", dev_python, *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {line.split(":")[0]: float(line.split()[1]) for line in proc.stdout.splitlines() if LINE.match(line)}


def test_the_blender_benchmark_prints_every_figure(blender, shotcaller_zip, dev_python, blender_helpers):
    if tuple(blender.app.version[:2]) != (5, 0):
        pytest.skip("run on Blender 5.0 only")
    values = run_bench(
        blender_helpers, "blender_drain.py", shotcaller_zip, dev_python, "--shots", "6", "--seconds", "1"
    )
    for name in (
        "register_cold",
        "register_warm",
        "enable_cold_vs_empty_extension",
        "blender_6_shots_drain_p99",
        "blender_6_shots_control_p99",
        "blender_6_shots_drain_p99_vs_control_p99",
        "blender_6_shots_drain_p99_vs_control_budget_p99",
        "blender_6_shots_frame_max",
        "blender_6_shots_submit_operator_first_use",
        "blender_6_shots_submit_longest_tick_vs_frame",
        "blender_6_shots_cancel_all_operator",
        "blender_6_shots_cancel_all_ui_time_vs_target",
        "full_collection_of_blender",
        "blender_6_shots_submit_full_collection_max",
        "blender_6_shots_full_collection_now_vs_blender",
        "blender_6_shots_landing_depsgraph_p99",
        "blender_6_shots_edit_update_vs_plain_strips",
    ):
        assert name in values, (name, sorted(values))
    assert values["register_threads_started"] == 0
    assert values["blender_6_shots_drains"] > 0


def test_the_first_use_benchmark_prints_every_figure(blender, shotcaller_zip, dev_python, blender_helpers):
    """bench/blender_first_use.py, one round of two shots: each way of pressing in a fresh Blender, and
    the deferred shots followed to DONE against the reference ComfyUI server."""
    if tuple(blender.app.version[:2]) != (5, 0):
        pytest.skip("run on Blender 5.0 only")
    values = run_bench(
        blender_helpers, "blender_first_use.py", shotcaller_zip, dev_python, "--rounds", "1", "--shots", "2"
    )
    names = ["first_use_control"]
    for mode in ("no_deferral", "without_deferral", "deferred", "after_warmup"):
        names += [f"first_use_press_{mode}{suffix}" for suffix in ("", "_max", "_vs_frame", "_vs_control")]
    names += [
        "first_use_press_after_warmup_vs_no_deferral",
        "first_use_press_deferred_during_warmup",
        "first_use_press_deferred_vs_no_deferral",
        "first_use_deferred_submit_tick",
        "first_use_deferred_waiting_tick_max",
        "first_use_deferred_pump_tick_max",
    ]
    missing = [name for name in names if name not in values]
    assert missing == [], sorted(values)
    assert all(values[name] > 0 for name in names if name.startswith("first_use_press_") and "during" not in name)
    # The deferred shots were generated, not only deferred.
    assert values["first_use_deferred_shots_done"] == values["first_use_deferred_shots"] == 2
