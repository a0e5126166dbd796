"""The main thread inside real Blender: `python bench/blender_drain.py --zip ZIP --dev-python DEV`,
run by a bpy venv's python (tools/bench.sh does it). Prints `name: value unit` lines.

The extension is installed from the built zip as a user installs it (and as tests/blender
does). Against the reference ComfyUI server streaming progress and sampler previews, N shots
(200, then 1000) are submitted with the sidebar's operator and the UI timer is emulated: call
`pump.tick()`, sleep what it returns. Every drain is timed, and beside it, in the same loop, a
fixed pure-Python workload (the control), so a busy machine shows in both. Every shot counts as
on screen (a panel asks for its preview each tick), the worst case for the previews. Then all N
are cancelled with the cancel operator. `register()` is timed cold (the first enable in a fresh
Blender) and warm (enabled again after a disable) against an empty extension installed the same way.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DRAIN_P99_TARGET_MS = 4.0
DRAIN_MAX_TARGET_MS = 16.0
FRAME_MS = 1000 / 60
CANCEL_TARGET_MS = 100.0
REGISTER_COLD_TARGET_MS = 300.0
REGISTER_WARM_TARGET_MS = 50.0
EMPTY_ID = "shotcaller_bench_empty"
BLENDER_COLLECTION_MS = [0.0]  # one full collection of Blender's own objects, measured before first use


def line(name: str, value: float, unit: str) -> None:
    print(f"{name}: {value:.4g} {unit}", flush=True)


def private_blender_dirs(root: Path) -> None:
    """Blender reads these once, at import: they must be set before bpy is imported."""
    for sub in ("home", "user", "extensions"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SHOTCALLER_REAL_HOME", os.environ.get("HOME", ""))
    os.environ["HOME"] = str(root / "home")
    os.environ["BLENDER_USER_RESOURCES"] = str(root / "user")
    os.environ["BLENDER_USER_EXTENSIONS"] = str(root / "extensions")


def percentile(samples: Sequence[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] if ordered else 0.0


def control_workload(rounds: int = 1500) -> int:
    """The same fixed pure-Python work every time (about a tenth of a millisecond on a quiet machine)."""
    total = 0
    for i in range(rounds):
        total += (i * i) % 7
    return total


# The second control is as long as a drain's whole budget (about 3 ms quiet): a busy machine or
# another thread holding the interpreter stops a longer piece of work more often, so a drain's tail
# is compared with the tail of a fixed workload of its own length, measured in the same ticks.
BUDGET_CONTROL_ROUNDS = 40_000


# Times its register() as Shotcaller's __init__ does, so both are measured the same way.
EMPTY_INIT = """import time

register_seconds = 0.0


def register():
    global register_seconds
    start = time.perf_counter()
    register_seconds = time.perf_counter() - start


def unregister():
    pass
"""


def empty_extension_zip(folder: Path) -> Path:
    path = folder / f"{EMPTY_ID}-1.0.0.zip"
    manifest = "\n".join(
        [
            'schema_version = "1.0.0"',
            f'id = "{EMPTY_ID}"',
            'version = "1.0.0"',
            'name = "Empty"',
            'tagline = "Nothing at all"',
            'maintainer = "Shotcaller benchmark"',
            'type = "add-on"',
            'blender_version_min = "4.2.0"',
            'license = ["SPDX:GPL-3.0-or-later"]',
            "",
        ]
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{EMPTY_ID}/blender_manifest.toml", manifest)
        archive.writestr(f"{EMPTY_ID}/__init__.py", EMPTY_INIT)
    return path


# -- register(): each measurement in its own Blender process -------------------------------------


def register_child(zip_path: str, module: str, install: bool) -> None:
    """In a fresh process: (install,) enable (cold), disable, enable (warm); print JSON timings."""
    import bpy

    addon_utils = importlib.import_module("addon_utils")  # importable only once bpy is

    bpy.ops.wm.read_factory_settings(use_empty=True)
    if install:
        assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=False)
    threads = threading.active_count()
    start = time.perf_counter()
    addon_utils.enable(module, default_set=True)
    enable_cold = time.perf_counter() - start
    assert addon_utils.check(module)[1], f"{module} did not enable"
    cold = sys.modules[module].register_seconds  # register() itself, as the package's __init__ timed it
    started_threads = threading.active_count() - threads
    addon_utils.disable(module, default_set=True)
    start = time.perf_counter()
    addon_utils.enable(module, default_set=True)
    enable_warm = time.perf_counter() - start
    warm = sys.modules[module].register_seconds
    addon_utils.disable(module, default_set=True)
    timings = {"cold": cold, "warm": warm, "enable_cold": enable_cold, "enable_warm": enable_warm}
    print("REGISTER " + json.dumps({**timings, "threads": started_threads}), flush=True)


def measure_register(zip_path: Path, module: str, root: Path) -> dict[str, float]:
    def child(install: bool) -> dict[str, float]:
        args = [sys.executable, __file__, "--register-child", str(zip_path), "--module", module, "--root", str(root)]
        proc = subprocess.run([*args, *(["--install"] if install else [])], capture_output=True, text=True, timeout=300)
        for out in proc.stdout.splitlines():
            if out.startswith("REGISTER "):
                return json.loads(out[len("REGISTER ") :])
        raise RuntimeError(f"register measurement failed for {module}:\n{proc.stdout}\n{proc.stderr}")

    child(install=True)  # installs (and compiles) once; the measured process below starts from that
    return child(install=False)


# -- drains -------------------------------------------------------------------------------------


class Loop:
    """The UI timer, emulated: tick, let Blender update what the tick changed, sleep what it says.

    Timed apart, every tick: the drain (`drain`, the whole drain, placing a take included; drains
    that placed one are also kept apart to show what Blender's loading of the file costs), the
    timer callback as a whole (`tick`: drain, background results, a slice of submitting), the
    dependency-graph update Blender runs after a timer that changed data (`depsgraph`, here
    `view_layer.update()`), and the two controls."""

    def __init__(self, bpy, compat, pump, previews, takes, shot_ids: list[str]) -> None:  # type: ignore[no-untyped-def]
        self.bpy, self.compat, self.pump, self.previews, self.takes = bpy, compat, pump, previews, takes
        self.shot_ids = shot_ids
        names = ("drain", "drain_no_take", "landing_drain", "place_take", "tick", "depsgraph", "frame")
        names = (*names, "landing_depsgraph", "depsgraph_no_take", "paired_bare_new_movie", "paired_bare_update")
        names = (*names, "paired_landing_place_take", "paired_landing_depsgraph")
        self.samples: dict[str, list[float]] = {name: [] for name in (*names, "control", "control_budget")}
        self._drain, self._land, self._place = pump.drain, pump.takes.land_take, takes.place_take
        self._landed = False
        self._placed: tuple[str, int] | None = None  # the file and frame of this tick's take
        self.paired_bare = None  # a scene of plain strips: each landing is repeated there by Blender alone
        self._collection_began = 0.0
        self.collections: list[tuple[int, float]] = []  # (generation, ms), on any thread
        gc.callbacks.append(self._time_collection)
        pump.drain, pump.takes.land_take, takes.place_take = self._timed_drain, self._flag_landing, self._timed_place

    def _time_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collection_began = time.perf_counter()
        else:
            self.collections.append((info["generation"], (time.perf_counter() - self._collection_began) * 1000))

    def _flag_landing(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._landed = True
        return self._land(*args, **kwargs)

    def _timed_place(self, scene, shot_strip, filepath, *args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return self._place(scene, shot_strip, filepath, *args, **kwargs)
        finally:
            self.samples["place_take"].append((time.perf_counter() - start) * 1000)
            self._placed = (filepath, int(self.compat.left_handle(shot_strip)))

    def _repeat_landing_bare(self) -> None:
        """The take this tick placed, placed again by Blender alone (new_movie, then the scene's update)
        in the plain scene, at once: a control under the same load as the landing, which a control run
        after the whole phase is not on a machine whose load changes by the minute."""
        if self.paired_bare is None or self._placed is None:
            return
        filepath, frame = self._placed
        strips = self.compat.top_strips(self.paired_bare.sequence_editor)
        n = len(self.samples["paired_bare_new_movie"])
        began = time.perf_counter()
        strips.new_movie(
            name=f"Paired {n}", filepath=filepath, channel=40 + n % 80, frame_start=frame, fit_method="FILL"
        )
        added = time.perf_counter()
        self.paired_bare.view_layers[0].update()
        self.samples["paired_bare_new_movie"].append((added - began) * 1000)
        self.samples["paired_bare_update"].append((time.perf_counter() - added) * 1000)
        # new_movie tags every scene's relations for a rebuild, this one's too: absorbed here, untimed,
        # or the next tick's update would pay for the control's strip.
        self.bpy.context.view_layer.update()

    def _timed_drain(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._landed, self._placed = False, None
        start = time.perf_counter()
        try:
            return self._drain(*args, **kwargs)
        finally:
            took = (time.perf_counter() - start) * 1000
            self.samples["drain"].append(took)
            self.samples["landing_drain" if self._landed else "drain_no_take"].append(took)

    def clear(self) -> None:
        for samples in self.samples.values():
            samples.clear()
        self.collections.clear()

    def emit_collections(self, emit, prefix: str) -> None:  # type: ignore[no-untyped-def]
        """Python's garbage collections while this phase ran: each one stops every thread."""
        full = [ms for generation, ms in self.collections if generation == 2]
        emit(f"{prefix}_collections", len(self.collections), "collections")
        emit(f"{prefix}_collection_max", max((ms for _, ms in self.collections), default=0.0), "ms")
        emit(f"{prefix}_full_collections", len(full), "collections")
        emit(f"{prefix}_full_collection_max", max(full, default=0.0), "ms")
        worst = max((ms for _, ms in self.collections), default=0.0)
        emit(f"{prefix}_collection_max_vs_full_collection_of_blender", worst / max(1e-9, BLENDER_COLLECTION_MS[0]), "x")

    def restore(self) -> None:
        gc.callbacks.remove(self._time_collection)
        self.pump.drain, self.pump.takes.land_take, self.takes.place_take = self._drain, self._land, self._place

    def main_thread_ms(self) -> float:
        """Everything the emulated UI spent on Shotcaller's behalf so far (ticks and their updates)."""
        return sum(self.samples["frame"])

    def run(self, until: Callable[[], bool], timeout: float) -> float:
        """Tick until `until()` or the timeout; returns the seconds it took."""
        view_layer = self.bpy.context.view_layer
        start = time.monotonic()
        while not until() and time.monotonic() - start < timeout:
            for shot_id in self.shot_ids:  # as a panel drawing every shot's preview would
                self.previews._seen[shot_id] = time.monotonic()
            began = time.perf_counter()
            interval = self.pump.tick()
            ticked = time.perf_counter()
            view_layer.update()
            updated = time.perf_counter()
            self.samples["tick"].append((ticked - began) * 1000)
            self.samples["depsgraph"].append((updated - ticked) * 1000)
            self.samples["landing_depsgraph" if self._landed else "depsgraph_no_take"].append((updated - ticked) * 1000)
            self.samples["frame"].append((updated - began) * 1000)
            for name, rounds in (("control", 1500), ("control_budget", BUDGET_CONTROL_ROUNDS)):
                began = time.perf_counter()
                control_workload(rounds)
                self.samples[name].append((time.perf_counter() - began) * 1000)
            if self._placed is not None and self.paired_bare is not None:
                self.samples["paired_landing_place_take"].append(self.samples["place_take"][-1])
                self.samples["paired_landing_depsgraph"].append(self.samples["depsgraph"][-1])
                self._repeat_landing_bare()
            time.sleep(interval if interval is not None else 0.05)
        return time.monotonic() - start


def timed_collection() -> float:
    began = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - began) * 1000


def edit_update_ms(bpy, compat, scene, rounds: int = 9) -> float:  # type: ignore[no-untyped-def]
    """Blender's scene update after one edit (a strip's colour tag changed), the median of `rounds`:
    every strip, with every value stored on it, is copied into the evaluated scene on each edit."""
    window = bpy.context.window
    shown, window.scene = window.scene, scene
    strip = next(iter(compat.all_strips(scene.sequence_editor)))
    own, samples = strip.color_tag, []
    bpy.context.view_layer.update()
    for round_ in range(rounds):
        strip.color_tag = "COLOR_06" if round_ % 2 == 0 else "COLOR_07"
        began = time.perf_counter()
        bpy.context.view_layer.update()
        samples.append((time.perf_counter() - began) * 1000)
    strip.color_tag = own
    bpy.context.view_layer.update()
    window.scene = shown
    return percentile(samples, 50)


def bare_landings(bpy, compat, bare, files: Sequence[str]) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Blender alone placing the same take files in a scene of plain strips: `new_movie` (which opens
    the file on the main thread) and the scene update after it, each timed."""
    window = bpy.context.window
    shown, window.scene = window.scene, bare
    strips = compat.top_strips(bare.sequence_editor)
    movie, update = [], []
    bpy.context.view_layer.update()
    for n, path in enumerate(files):
        began = time.perf_counter()
        strips.new_movie(name=f"Bare take {n}", filepath=path, channel=40 + n % 80, frame_start=1 + 10 * n)
        added = time.perf_counter()
        bpy.context.view_layer.update()
        movie.append((added - began) * 1000)
        update.append((time.perf_counter() - added) * 1000)
    window.scene = shown
    return movie, update


def bench_plain_controls(bpy, compat, scene, prefix: str, emit, samples) -> None:  # type: ignore[no-untyped-def]
    """What Shotcaller adds to Blender's own costs, against a scene of as many plain strips made in the
    same run: every edit a user makes (Shotcaller's data on the strips is copied on each update), and
    placing a take (the same files put on the plain scene by Blender's new_movie alone)."""
    count = len(compat.all_strips(scene.sequence_editor))
    ours = edit_update_ms(bpy, compat, scene)
    bare = plain_scene(bpy, compat, f"{scene.name} bare", count)
    plain = edit_update_ms(bpy, compat, bare)
    files = [s.filepath for s in compat.all_strips(scene.sequence_editor) if s.type == "MOVIE"]
    movie, update = bare_landings(bpy, compat, bare, [bpy.path.abspath(f) for f in files[:100]])
    bpy.data.scenes.remove(bare)
    # The same files placed by Blender alone in Shotcaller's own scene: the update's share that is the
    # strips' stored data, apart from what a landing tick changes besides its new strip.
    _, in_ours = bare_landings(bpy, compat, scene, [bpy.path.abspath(f) for f in files[:30]])
    emit(f"{prefix}_edit_update", ours, "ms")
    emit(f"{prefix}_edit_update_plain_strips", plain, "ms")
    emit(f"{prefix}_edit_update_vs_plain_strips", ours / max(1e-9, plain), "x")
    if not movie:
        return
    emit(f"{prefix}_bare_new_movie_files", len(movie), "files")
    emit_spread(emit, prefix, "bare_new_movie", movie)
    emit_spread(emit, prefix, "bare_new_movie_update", update)
    emit_spread(emit, prefix, "bare_new_movie_in_shotcaller_scene_update", in_ours)
    emit(
        f"{prefix}_bare_new_movie_update_p50_in_shotcaller_scene_vs_plain",
        percentile(in_ours, 50) / max(1e-9, percentile(update, 50)),
        "x",
    )
    emit(
        f"{prefix}_landing_depsgraph_p50_vs_bare_new_movie_in_shotcaller_scene_update_p50",
        percentile(samples["landing_depsgraph"], 50) / max(1e-9, percentile(in_ours, 50)),
        "x",
    )
    for pct, name in ((50, "p50"), (99, "p99")):
        landing, bare_movie = percentile(samples["landing_drain"], pct), percentile(movie, pct)
        emit(f"{prefix}_landing_drain_{name}_vs_bare_new_movie_{name}", landing / max(1e-9, bare_movie), "x")
        emit(f"{prefix}_landing_drain_{name}_beyond_bare_new_movie_{name}", landing - bare_movie, "ms")
        emit(
            f"{prefix}_landing_depsgraph_{name}_vs_bare_new_movie_update_{name}",
            percentile(samples["landing_depsgraph"], pct) / max(1e-9, percentile(update, pct)),
            "x",
        )


def plain_scene(bpy, compat, name: str, count: int):  # type: ignore[no-untyped-def]
    """A scene of `count` plain colour strips laid out as the benchmark's shots are."""
    bare = bpy.data.scenes.new(name)
    bare.sequence_editor_create()
    for i in range(count):
        compat.new_color_strip(bare.sequence_editor, f"Plain {i:05d}", 1 + i % 30, 1 + 10 * (i // 30), 9)
    bare.view_layers[0].update()
    return bare


def emit_paired_landings(emit, prefix: str, samples) -> None:  # type: ignore[no-untyped-def]
    """Each take placed, against Blender alone placing the same file in a plain scene right after it
    (same tick, same load): per pair, and as spreads."""
    ours, bare = samples["paired_landing_place_take"], samples["paired_bare_new_movie"]
    if not bare:
        return
    emit(f"{prefix}_paired_landings", len(bare), "landings")
    emit_spread(emit, prefix, "paired_bare_new_movie", bare)
    emit_spread(emit, prefix, "paired_bare_update", samples["paired_bare_update"])
    pairs = sorted(o / max(1e-9, b) for o, b in zip(ours, bare, strict=True))
    emit(f"{prefix}_place_take_vs_paired_bare_new_movie_median_pair", percentile(pairs, 50), "x")
    for pct, name in ((50, "p50"), (99, "p99")):
        emit(
            f"{prefix}_place_take_{name}_vs_paired_bare_new_movie_{name}",
            percentile(ours, pct) / max(1e-9, percentile(bare, pct)),
            "x",
        )
        emit(
            f"{prefix}_landing_depsgraph_{name}_vs_paired_bare_update_{name}",
            percentile(samples["paired_landing_depsgraph"], pct)
            / max(1e-9, percentile(samples["paired_bare_update"], pct)),
            "x",
        )


def emit_spread(emit, prefix: str, name: str, samples: Sequence[float]) -> None:  # type: ignore[no-untyped-def]
    emit(f"{prefix}_{name}_p50", percentile(samples, 50), "ms")
    emit(f"{prefix}_{name}_p99", percentile(samples, 99), "ms")
    emit(f"{prefix}_{name}_max", max(samples, default=0.0), "ms")


def bench_shots(bpy, module: str, count: int, seconds: float, emit, first_use: bool) -> None:  # type: ignore[no-untyped-def]
    pump = importlib.import_module(f"{module}.mainthread.pump")
    previews = importlib.import_module(f"{module}.mainthread.previews")
    compat = importlib.import_module(f"{module}.sequencer.compat")
    takes = importlib.import_module(f"{module}.sequencer.takes")
    session_module = importlib.import_module(f"{module}.jobs.session")
    scene = bpy.data.scenes.new(f"Bench{count}")
    bpy.context.window.scene = scene
    if hasattr(bpy.context.workspace, "sequencer_scene"):
        bpy.context.workspace.sequencer_scene = scene
    scene.sequence_editor_create()
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 64, 100
    for i in range(count):
        strip = compat.new_color_strip(scene.sequence_editor, f"Shot {i:04d}", 1 + i % 30, 1 + 10 * (i // 30), 9)
        strip.shotcaller.prompt = f"shot {i}, rain on a window"
        strip.select = True
    bpy.context.view_layer.update()  # the strips' own creation is not the operator's to pay for
    prefix = f"blender_{count}_shots"

    # The operator as a button calls it: bpy.ops runs it and Blender's update of what it changed.
    start = time.perf_counter()
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    operator_ms = (time.perf_counter() - start) * 1000
    # The first Generate in a Blender session also imports the core (pydantic, the backend clients):
    # deferred from register() to here on purpose, and said apart.
    emit(f"{prefix}_submit_operator{'_first_use' if first_use else ''}", operator_ms, "ms")
    emit(f"{prefix}_submit_operator{'_first_use' if first_use else ''}_vs_frame", operator_ms / FRAME_MS, "x")
    submission = importlib.import_module(f"{module}.mainthread.submission")
    shot_ids = [s.shotcaller.shot_id for s in compat.all_strips(scene.sequence_editor)]
    loop = Loop(bpy, compat, pump, previews, takes, shot_ids)
    try:
        took = loop.run(lambda: submission.waiting() == 0, timeout=180)
        frames = loop.samples["frame"]
        emit(f"{prefix}_submit_spread_over", took, "s")
        emit(f"{prefix}_submit_ticks", len(frames), "ticks")
        emit(f"{prefix}_submit_longest_tick", max(frames, default=0.0), "ms")
        emit(f"{prefix}_submit_longest_tick_vs_frame", max(frames, default=0.0) / FRAME_MS, "x")
        emit(f"{prefix}_submit_ticks_over_a_frame", sum(1 for f in frames if f > FRAME_MS), "ticks")
        emit_spread(emit, prefix, "submit_tick", loop.samples["tick"])
        emit_spread(emit, prefix, "submit_depsgraph", loop.samples["depsgraph"])
        emit(f"{prefix}_submit_control_budget_max", max(loop.samples["control_budget"], default=0.0), "ms")
        loop.emit_collections(emit, f"{prefix}_submit")
        loop.clear()
        swaps_before = previews.swaps
        loop.paired_bare = plain_scene(bpy, compat, f"{scene.name} paired", count)
        loop.run(lambda: False, timeout=seconds)
        emit_paired_landings(emit, prefix, loop.samples)
        bpy.data.scenes.remove(loop.paired_bare)
        loop.paired_bare = None
        samples = loop.samples
        session = session_module.current_session()
        in_flight = session.scheduler.active_count if session else 0
        emit(f"{prefix}_in_flight_at_end", in_flight, "shots")
        emit(f"{prefix}_drains", len(samples["drain"]), "drains")
        loop.emit_collections(emit, prefix)
        emit(f"{prefix}_previews_swapped", previews.swaps - swaps_before, "previews")
        for name in ("drain", "control", "control_budget", "tick", "depsgraph", "frame"):
            emit_spread(emit, prefix, name, samples[name])
        drains, control, budget_control = samples["drain"], samples["control"], samples["control_budget"]
        emit(f"{prefix}_drain_p99_vs_target", percentile(drains, 99) / DRAIN_P99_TARGET_MS, "x")
        emit(f"{prefix}_drain_max_vs_target", max(drains, default=0.0) / DRAIN_MAX_TARGET_MS, "x")
        emit(f"{prefix}_drain_p99_vs_control_p99", percentile(drains, 99) / max(1e-9, percentile(control, 99)), "x")
        emit(
            f"{prefix}_drain_p99_vs_control_budget_p99",
            percentile(drains, 99) / max(1e-9, percentile(budget_control, 99)),
            "x",
        )
        worst_control = max(budget_control, default=1e-9)
        emit(f"{prefix}_drain_max_vs_control_budget_max", max(drains, default=0.0) / worst_control, "x")
        emit(f"{prefix}_frame_max_vs_target", max(samples["frame"], default=0.0) / DRAIN_MAX_TARGET_MS, "x")
        emit(f"{prefix}_drains_over_a_frame", sum(1 for d in drains if d > FRAME_MS), "drains")
        emit(f"{prefix}_frames_over_a_frame", sum(1 for d in samples["frame"] if d > FRAME_MS), "ticks")
        # A drain that places a take calls Blender's new_movie, which opens the file on the main
        # thread (nothing in Python can move that); at most one take per drain. Shown apart too.
        emit(f"{prefix}_landing_drains", len(samples["landing_drain"]), "drains")
        emit_spread(emit, prefix, "landing_drain", samples["landing_drain"])
        emit_spread(emit, prefix, "landing_place_take", samples["place_take"])
        emit_spread(emit, prefix, "drain_no_take", samples["drain_no_take"])
        emit_spread(emit, prefix, "landing_depsgraph", samples["landing_depsgraph"])
        emit_spread(emit, prefix, "depsgraph_no_take", samples["depsgraph_no_take"])
        drain_samples = {name: list(samples[name]) for name in ("landing_drain", "landing_depsgraph")}
        no_take_p99 = percentile(samples["drain_no_take"], 99)
        budget_p99 = max(1e-9, percentile(budget_control, 99))
        emit(f"{prefix}_drain_no_take_p99_vs_control_budget_p99", no_take_p99 / budget_p99, "x")
        emit(f"{prefix}_drain_no_take_p99_vs_target", no_take_p99 / DRAIN_P99_TARGET_MS, "x")

        loop.clear()
        start = time.perf_counter()
        result = bpy.ops.sequencer.shotcaller_cancel_all()  # the Shots panel's Cancel All button
        cancel_ms = (time.perf_counter() - start) * 1000
        emit(f"{prefix}_cancel_all_operator", cancel_ms, "ms")
        emit(f"{prefix}_cancel_all_cancelled", 1.0 if result == {"FINISHED"} else 0.0, "bool")
        took = loop.run(lambda: session is None or not session.has_work(), timeout=120)
        # UI time: the operator, then every tick (and its update) until the last shot says cancelled.
        ui_ms = cancel_ms + loop.main_thread_ms()
        emit(f"{prefix}_cancel_all_ui_time", ui_ms, "ms")
        emit(f"{prefix}_cancel_all_ui_time_vs_target", ui_ms / CANCEL_TARGET_MS, "x")
        emit(f"{prefix}_cancel_all_to_idle", took, "s")
        emit(f"{prefix}_cancel_all_longest_tick", max(loop.samples["frame"], default=0.0), "ms")
        bench_plain_controls(bpy, compat, scene, prefix, emit, drain_samples)
        # What a full collection costs now, whenever CPython starts one: against the same collection
        # of Blender's own objects before the core was loaded.
        ms = timed_collection()
        emit(f"{prefix}_full_collection_now", ms, "ms")
        emit(f"{prefix}_full_collection_now_vs_blender", ms / max(1e-9, BLENDER_COLLECTION_MS[0]), "x")
    finally:
        loop.restore()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zip", help="the built extension (tools/build.py)")
    parser.add_argument("--dev-python", help="the dev venv's python, to run the reference ComfyUI server")
    parser.add_argument("--shots", type=int, nargs="*", default=[200, 1000])
    parser.add_argument("--seconds", type=float, default=25.0, help="how long to drain with shots in flight")
    parser.add_argument("--skip-register", action="store_true")
    parser.add_argument("--register-child", help=argparse.SUPPRESS)
    parser.add_argument("--module", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--install", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.register_child:
        private_blender_dirs(Path(args.root))
        register_child(args.register_child, args.module, args.install)
        return 0
    if not args.zip or not args.dev_python:
        parser.error("--zip and --dev-python are required")
    zip_path = Path(args.zip).resolve()
    with tempfile.TemporaryDirectory(prefix="shotcaller-bench-") as tmp:
        root = Path(tmp)
        if not args.skip_register:
            empty = measure_register(empty_extension_zip(root), f"bl_ext.user_default.{EMPTY_ID}", root / "empty")
            ours = measure_register(zip_path, "bl_ext.user_default.shotcaller", root / "ours")
            for kind in ("cold", "warm"):
                target = REGISTER_COLD_TARGET_MS if kind == "cold" else REGISTER_WARM_TARGET_MS
                line(f"register_{kind}", ours[kind] * 1000, "ms")
                line(f"register_{kind}_vs_target", ours[kind] * 1000 / target, "x")
                # What the user waits for: Blender's enable, its wheel handling included (the empty
                # extension has no wheels), against the empty extension's.
                line(f"enable_{kind}", ours[f"enable_{kind}"] * 1000, "ms")
                line(f"enable_{kind}_empty_extension", empty[f"enable_{kind}"] * 1000, "ms")
                line(f"enable_{kind}_vs_empty_extension", ours[f"enable_{kind}"] / empty[f"enable_{kind}"], "x")
            line("register_threads_started", ours["threads"], "threads")
        private_blender_dirs(root / "drain")
        sys.path.insert(0, str(REPO_ROOT / "tests"))
        import bpy
        from reference_servers import reference_server_process

        addon_utils = importlib.import_module("addon_utils")  # importable only once bpy is

        bpy.ops.wm.read_factory_settings(use_empty=True)
        module = "bl_ext.user_default.shotcaller"
        assert bpy.ops.extensions.package_install_files(
            filepath=str(zip_path), repo="user_default", enable_on_install=True
        ) == {"FINISHED"}
        output = root / "comfyui"
        output.mkdir()
        try:
            with reference_server_process(
                args.dev_python, "comfyui", "--output-dir", str(output), "--step-seconds", "0.01"
            ) as server:
                threading.Thread(target=lambda: server.process.stdout.read(), daemon=True).start()  # never blocks it
                prefs = bpy.context.preferences.addons[module].preferences
                prefs.comfyui_url = server.url
                prefs.output_folder = str(root / "takes")
                prefs.jobs_per_server = 2
                # The control for the collections timed later: what one full collection costs in this
                # Blender, the extension enabled but its core not yet loaded (median of three).
                BLENDER_COLLECTION_MS[0] = percentile([timed_collection() for _ in range(3)], 50)
                line("full_collection_of_blender", BLENDER_COLLECTION_MS[0], "ms")
                line("objects_tracked_by_blender", len(gc.get_objects()), "objects")
                for n, count in enumerate(args.shots):
                    bench_shots(bpy, module, count, args.seconds, line, first_use=n == 0)
                    importlib.import_module(f"{module}.jobs.session").close_session()
        finally:
            addon_utils.disable(module, default_set=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
