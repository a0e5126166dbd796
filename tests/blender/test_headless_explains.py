"""The headless batch explains itself: an unknown --shots name stops it before anything runs (exit 2,
the scene's names, the closest one), --list prints the shots, shots left out are listed as skipped
in the console and the report, progress lines are printed once, every report entry has its real
run time, and hints name the address and where it came from. batch.py runs in its own Blender
process, exactly as `blender -b film.blend --python batch.py --` would."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEAD_URL = "http://127.0.0.1:9"


def make_film(bpy, addon, scene, tmp_path):
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 64, 100
    for name, start, prompt in (("Intro", 1, "a harbour at dawn"), ("Street", 20, "a wet street"), ("Title", 40, "")):
        strip = compat.new_color_strip(scene.sequence_editor, name, 1, start, 12)
        strip.shotcaller.prompt = prompt
    film = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film))
    return film


def batch(addon, film, *args, timeout=300):
    script = Path(addon.__file__).parent / "batch.py"
    command = [sys.executable, str(REPO_ROOT / "tools" / "blender_run.py"), str(film), str(script), "--", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_an_unknown_shot_name_stops_before_anything_runs(addon, sequencer_scene, blender, tmp_path):
    film = make_film(blender, addon, sequencer_scene, tmp_path)
    report = tmp_path / "report.json"
    takes = tmp_path / "takes"
    result = batch(addon, film, "--shots", "01 Intro", "--output-dir", str(takes), "--report", str(report))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no shot named '01 Intro' (closest: 'Intro')" in result.stderr
    assert "Its shots: 'Intro', 'Street', 'Title'" in result.stderr
    assert "Nothing was generated" in result.stderr
    assert not takes.exists() and not report.exists()

    # Names match whatever their case.
    result = batch(addon, film, "--shots", "title", "--report", str(report))
    assert result.returncode == 1  # its only shot has no prompt: nothing to generate
    assert "skipped 'Title': it has no prompt" in result.stdout
    entries = json.loads(report.read_text())["shots"]
    assert [(entry["name"], entry["status"]) for entry in entries] == [("Title", "skipped")]


def test_list_prints_every_shot_with_status_and_takes(addon, sequencer_scene, blender, tmp_path):
    film = make_film(blender, addon, sequencer_scene, tmp_path)
    result = batch(addon, film, "--list")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "Intro: frames 1-12, video, Not generated, 0 takes; a harbour at dawn" in lines
    assert "Title: frames 40-51, video, Not generated, 0 takes; (no prompt: skipped)" in lines


def test_a_run_lists_skipped_shots_prints_progress_once_and_times_every_entry(
    addon, sequencer_scene, blender, tmp_path, comfyui_url
):
    film = make_film(blender, addon, sequencer_scene, tmp_path)
    report = tmp_path / "report.json"
    args = ("--comfyui-url", comfyui_url, "--output-dir", str(tmp_path / "takes"), "--report", str(report))
    result = batch(addon, film, *args, "--save")
    assert result.returncode == 0, result.stdout + result.stderr  # skipped shots do not fail the run
    assert "skipped 'Title': it has no prompt" in result.stdout
    assert "2 of 2 shot(s) got a take; 1 skipped" in result.stdout
    assert f"comfyui server {comfyui_url} (from the command line (--comfyui-url))" in result.stdout
    progress = [line for line in result.stdout.splitlines() if line.startswith("[progress]")]
    assert progress and len(progress) == len(set(progress))  # each step once
    # A node ComfyUI names when it starts and again when the next one does is one line, not two.
    said = [(line.split(" job ", 1)[1].split(":", 1)[0], line.split("% ", 1)[1]) for line in progress]
    assert len(said) == len(set(said)), "\n".join(progress)
    # Every event line names its shot as the user named the strip, not by an id they never see.
    events = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert events and all(line.split("] ", 1)[1].startswith(("'Intro' job ", "'Street' job ")) for line in events)
    shots = {entry["name"]: entry for entry in json.loads(report.read_text())["shots"]}
    assert shots["Title"]["status"] == "skipped" and "no prompt" in shots["Title"]["error"]
    assert all(shots[name]["status"] == "done" and shots[name]["seconds"] > 0 for name in ("Intro", "Street"))

    # A failed shot reports how long it ran, and its hint names the address used and where it came from.
    result = batch(addon, film, "--shots", "Intro", "--comfyui-url", DEAD_URL, "--report", str(report))
    assert result.returncode == 1
    failed = json.loads(report.read_text())["shots"][0]
    assert failed["status"] == "failed" and failed["seconds"] > 0 and failed["finished_at"] > 0
    assert "127.0.0.1:9" in failed["error"] and "--port 9" in failed["error"]
    assert "the command line (--comfyui-url)" in failed["error"] and "preferences" not in failed["error"]


def test_a_browser_address_is_used_at_its_root_and_said_once(addon, sequencer_scene, blender, tmp_path, comfyui_url):
    film = make_film(blender, addon, sequencer_scene, tmp_path)
    takes = tmp_path / "takes"
    result = batch(addon, film, "--shots", "Intro", "--server", f"comfyui={comfyui_url}/#/", "--output-dir", str(takes))
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    # The server is used (the shot got its take), so nothing may call it skipped; and said once, not twice.
    assert f"'#/' was dropped from {comfyui_url}/#/" in output and "skipped" not in output, output
    assert output.count("was dropped from") == 1, output
