"""Nothing lost, nothing paid twice: Blender killed (SIGKILL) while a shot runs on the server, then again.

Both paths run the real extension against a reference ComfyUI server slow enough to kill a
Blender process in the middle of a job (20 sampler steps of 0.4 s). The journal is read with
sqlite3 from here (WAL lets a reader in while the batch writes) to kill exactly when the server
has the job; the server's own /history and /queue count the jobs it ran.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sqlite3
import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from blender_runs import batch_command, blender_run
from pump_driver import run_pump_until_idle

SHOTS = (("Alpha", 1, 9), ("Bravo", 10, 9))  # name, first frame, length (9 frames: 4n+1)


@pytest.fixture(scope="module")
def slow_comfyui(dev_python, tmp_path_factory):
    from reference_servers import reference_server

    output = str(tmp_path_factory.mktemp("slow-comfyui"))
    with reference_server(dev_python, "comfyui", "--output-dir", output, "--step-seconds", "0.4") as url:
        yield url


def server_jobs(url: str) -> int:
    """Every prompt the server ran or runs: its history plus its queue."""
    with urllib.request.urlopen(f"{url}/history", timeout=10) as response:
        history = json.load(response)
    with urllib.request.urlopen(f"{url}/queue", timeout=10) as response:
        queue = json.load(response)
    return len(history) + len(queue["queue_running"]) + len(queue["queue_pending"])


def make_film(bpy, scene, addon, path: Path) -> None:
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    scene.render.resolution_x, scene.render.resolution_y = 64, 48
    scene.render.resolution_percentage = 100
    scene.render.fps, scene.render.fps_base = 24, 1.0
    for name, start, length in SHOTS:
        strip = compat.new_color_strip(scene.sequence_editor, name, 2, start, length)
        strip.shotcaller.prompt = f"{name.lower()} on a cliff, storm"
        strip.shotcaller.seed = start
        strip.select = True
    bpy.ops.wm.save_as_mainfile(filepath=str(path))


def wait_for_journal(
    path: Path, process: subprocess.Popen, condition: str, timeout: float = 120.0, log: Path | None = None
) -> list:
    """Rows (shot_id, state, server_job_id) once `condition` (SQL over the jobs table) holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text() if log is not None and log.is_file() else ""
        assert process.poll() is None, f"the Blender process ended before it could be killed:\n{output}"
        if path.is_file():
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
                    if db.execute(f"SELECT COUNT(*) FROM jobs WHERE {condition}").fetchone()[0]:
                        return db.execute("SELECT shot_id, state, server_job_id FROM jobs").fetchall()
            except sqlite3.OperationalError:
                pass  # the table is not there yet
        time.sleep(0.05)
    output = log.read_text() if log is not None and log.is_file() else ""
    rows = []
    if path.is_file():
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute("SELECT state, instance_id, server_job_id, message FROM jobs").fetchall()
    raise AssertionError(f"the journal {path} never had a job with {condition}: {rows}\n{output}")


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def batch(addon, film: Path, url: str, takes: Path, report: Path) -> list[str]:
    return batch_command(Path(addon.__file__).parent / "batch.py", film, url, takes, report, "--save")


def test_headless_batch_killed_mid_job_is_recovered_and_nothing_runs_twice(
    addon, sequencer_scene, blender, tmp_path, slow_comfyui
):
    bpy = blender
    film, takes, report = tmp_path / "film.blend", tmp_path / "takes", tmp_path / "report.json"
    make_film(bpy, sequencer_scene, addon, film)
    before = server_jobs(slow_comfyui)

    first = subprocess.Popen(
        batch(addon, film, slow_comfyui, takes, report),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        # One shot done, the other accepted by the server (its prompt id journaled) and running there.
        wait_for_journal(takes / "shotcaller_journal.sqlite", first, "state = 'done'")
        rows = wait_for_journal(takes / "shotcaller_journal.sqlite", first, "state = 'accepted'")
    finally:
        kill(first)
    assert sorted(state for _, state, _ in rows) == ["accepted", "done"], rows
    assert server_jobs(slow_comfyui) - before == 2  # the server has the job Blender left, and goes on with it

    second = subprocess.run(
        batch(addon, film, slow_comfyui, takes, report),
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    assert "2 of 2 shot(s) got a take" in second.stdout
    assert "following the job a previous run left on its server" in second.stdout, second.stdout
    assert server_jobs(slow_comfyui) - before == 2  # one job per shot, in both runs together

    bpy.ops.wm.open_mainfile(filepath=str(film))
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    strips = {s.name: s for s in compat.all_strips(bpy.context.scene.sequence_editor)}
    messages = {name: strips[name].shotcaller.message for name, _, _ in SHOTS}
    assert all(strips[name].shotcaller.status == "DONE" for name, _, _ in SHOTS), messages
    assert all(len(strips[name].shotcaller.takes) == 1 for name, _, _ in SHOTS)
    where = f"recovered from ComfyUI at {slow_comfyui}"
    recovered = [name for name, text in messages.items() if text.startswith(where)]
    reused = [name for name, text in messages.items() if "reused (nothing generated)" in text]
    assert len(recovered) == 1 and len(reused) == 1, messages  # the killed job followed up, the done one reused
    for name, _, _ in SHOTS:
        assert os.path.getsize(bpy.path.abspath(strips[name].shotcaller.takes[0].filepath)) > 0


UI_SCRIPT = textwrap.dedent(
    """
    import importlib, sys, time
    import addon_utils, bpy
    module, url, takes, names, seed = sys.argv[sys.argv.index("--") + 1:]
    addon_utils.enable(module, default_set=True, handle_error=None)
    prefs = bpy.context.preferences.addons[module].preferences
    prefs.comfyui_url, prefs.output_folder = url, takes
    scene = bpy.context.scene
    for strip in importlib.import_module(module + ".sequencer.compat").all_strips(scene.sequence_editor):
        strip.select = strip.name in names.split(",")
        # Not another test's request: ComfyUI (and its reference server) answers a prompt it ran
        # before from its node cache at once, and there would be no job left to kill.
        strip.shotcaller.seed = int(seed)
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    bpy.ops.wm.save_mainfile()  # as an autosave would: the shot is saved as generating
    pump = importlib.import_module(module + ".mainthread.pump")
    compat = importlib.import_module(module + ".sequencer.compat")
    bravo = next(s for s in compat.all_strips(scene.sequence_editor) if s.name == "Bravo").shotcaller
    seen = None
    while True:  # the UI timer, until this process is killed
        pump.tick()
        if (bravo.status, bravo.message) != seen:
            seen = (bravo.status, bravo.message)
            print("shot:", *seen, flush=True)
        time.sleep(0.05)
    """
)


def start_ui_session(
    tmp_path: Path, film: Path, module: str, url: str, takes: Path, names: str, seed: int
) -> tuple[subprocess.Popen, Path]:
    """A Blender on `film` that presses Generate on the shots `names` (with `seed`) and runs the UI timer
    until it is killed (UI_SCRIPT). Returns the process and the log its output goes to."""
    script = tmp_path / "ui_session.py"
    script.write_text(UI_SCRIPT)
    log = tmp_path / "ui_session.log"
    process = subprocess.Popen(
        blender_run(film, script, module, url, str(takes), names, str(seed)),
        stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    return process, log


def test_blender_killed_mid_job_recovers_the_take_when_the_file_is_opened_again(
    addon, sequencer_scene, blender, tmp_path, slow_comfyui, shotcaller_addon
):
    bpy = blender
    film, takes = tmp_path / "film.blend", tmp_path / "ui_takes"
    make_film(bpy, sequencer_scene, addon, film)
    before = server_jobs(slow_comfyui)
    ui, log = start_ui_session(tmp_path, film, shotcaller_addon, slow_comfyui, takes, "Bravo", 4242)
    try:
        wait_for_journal(takes / "shotcaller_journal.sqlite", ui, "state = 'accepted'", log=log)
    finally:
        kill(ui)
    assert server_jobs(slow_comfyui) - before == 1

    prefs = bpy.context.preferences.addons[shotcaller_addon].preferences
    prefs.comfyui_url, prefs.output_folder = slow_comfyui, str(takes)
    bpy.ops.wm.open_mainfile(filepath=str(film))  # load_post follows the job up
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    strip = {s.name: s for s in compat.all_strips(bpy.context.scene.sequence_editor)}["Bravo"]
    assert strip.shotcaller.status == "RUNNING", strip.shotcaller.message
    run_pump_until_idle(importlib.import_module(f"{addon.__name__}.mainthread.pump"), timeout=120)
    shot = strip.shotcaller
    assert shot.status == "DONE", shot.message
    assert shot.message.startswith(f"recovered from ComfyUI at {slow_comfyui}"), shot.message
    assert len(shot.takes) == 1 and os.path.getsize(bpy.path.abspath(shot.takes[0].filepath)) > 0
    assert server_jobs(slow_comfyui) - before == 1  # the killed session's job, and no other


def test_a_shot_no_server_had_accepted_when_blender_was_killed_says_so_once_and_retries(
    addon, sequencer_scene, blender, tmp_path, slow_comfyui, shotcaller_addon
):
    bpy = blender
    film, takes = tmp_path / "film.blend", tmp_path / "ui_takes"
    make_film(bpy, sequencer_scene, addon, film)
    before = server_jobs(slow_comfyui)
    ui, log = start_ui_session(tmp_path, film, shotcaller_addon, slow_comfyui, takes, "Alpha,Bravo", 5151)
    try:  # one job at a time on the server: one shot running there, the other waiting in Shotcaller's queue
        # Both rows: the waiting shot's can be written after the running one is accepted.
        both = "state = 'accepted' AND (SELECT COUNT(*) FROM jobs WHERE server_job_id = '') = 1"
        rows = wait_for_journal(takes / "shotcaller_journal.sqlite", ui, both, log=log)
    finally:
        kill(ui)
    waiting = {shot_id for shot_id, _, server_job_id in rows if not server_job_id}
    assert len(rows) == 2 and len(waiting) == 1, rows

    prefs = bpy.context.preferences.addons[shotcaller_addon].preferences
    prefs.comfyui_url, prefs.output_folder = slow_comfyui, str(takes)
    bpy.ops.wm.open_mainfile(filepath=str(film))
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    strips = list(compat.all_strips(bpy.context.scene.sequence_editor))
    shot = next(s for s in strips if s.shotcaller.shot_id in waiting).shotcaller
    assert shot.status == "INTERRUPTED"
    assert shot.message == (
        "Blender closed before any server accepted this shot: nothing was made or paid for. "
        "Generate it again (Retry Failed in the Shots panel makes it with the same seed)."
    )
    assert shot.hint == "Generate it again (Retry Failed in the Shots panel makes it with the same seed)."
    run_pump_until_idle(importlib.import_module(f"{addon.__name__}.mainthread.pump"), timeout=120)
    assert server_jobs(slow_comfyui) - before == 1  # the running one was followed, not made again

    assert bpy.ops.sequencer.shotcaller_retry_failed() == {"FINISHED"}
    run_pump_until_idle(importlib.import_module(f"{addon.__name__}.mainthread.pump"), timeout=120)
    assert shot.status == "DONE", shot.message
    assert [s.shotcaller.status for s in strips if not s.shotcaller.take_of] == ["DONE", "DONE"]
    assert server_jobs(slow_comfyui) - before == 2
