"""Wan2GP and LiteLLM produce takes in real Blender, through the sidebar operator and through batch.py.

Wan2GP runs as its reference MCP server; LiteLLM is the real proxy (its own
venv) forwarding image and video requests to the OpenAI-compatible reference
endpoint. Every server is a subprocess on loopback.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest
import stand_in_layout
from pump_driver import run_pump_until_idle
from reference_servers import LITELLM_TEST_KEY as MASTER_KEY
from reference_servers import reference_server

REPO_ROOT = Path(__file__).resolve().parents[2]
MEDIA_MODELS = "cloud-image=image/final, cloud-video=video/final"


@pytest.fixture(scope="module")
def wan2gp(dev_python, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("wan2gp"))
    with reference_server(dev_python, "wan2gp", "--output-dir", output, "--step-seconds", "0.01") as url:
        yield f"{url}/mcp/"


@pytest.fixture(scope="module")
def litellm(litellm_proxy):
    return litellm_proxy


@pytest.fixture
def addon(shotcaller_addon, blender, tmp_path):
    prefs = blender.context.preferences.addons[shotcaller_addon].preferences
    prefs.output_folder = str(tmp_path / "takes")
    module = importlib.import_module(shotcaller_addon)
    yield module
    importlib.import_module(f"{shotcaller_addon}.jobs.session").close_session()
    prefs.instances.clear()
    blender.context.preferences.system.use_online_access = False


def add_server(bpy, module_name, kind, url, **fields):
    item = bpy.context.preferences.addons[module_name].preferences.instances.add()
    item.kind, item.name, item.url = kind, kind, url
    for key, value in fields.items():
        setattr(item, key, value)
    return item


def make_shot(addon, scene, media="video", length=24, size=(128, 96)):
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage, scene.render.fps = 100, 24
    strip = compat.new_color_strip(scene.sequence_editor, f"{media} shot", 1, 1, length)
    strip.shotcaller.prompt, strip.shotcaller.media, strip.select = "a paper boat in a gutter", media, True
    return strip


def generate(bpy, addon, strip, quality):
    pump = importlib.import_module(f"{addon.__name__}.mainthread.pump")
    assert bpy.ops.sequencer.shotcaller_generate(quality=quality) == {"FINISHED"}
    run_pump_until_idle(pump, describe=lambda: strip.shotcaller.message)
    return strip.shotcaller


def placed_strip(addon, scene, shot):
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    return compat.all_strips(scene.sequence_editor)[shot.takes[0].strip_name]


def run_batch(bpy, addon, scene, tmp_path, *args, env=None):
    film = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film))
    report = tmp_path / "report.json"
    batch = Path(addon.__file__).parent / "batch.py"
    command = [sys.executable, str(REPO_ROOT / "tools" / "blender_run.py"), str(film), str(batch), "--"]
    command += [*args, "--output-dir", str(tmp_path / "batch_takes"), "--report", str(report)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    return result, json.loads(report.read_text()) if report.exists() else None


def test_wan2gp_takes_from_the_sidebar(addon, sequencer_scene, blender, wan2gp):
    add_server(blender, addon.__name__, "wan2gp", wan2gp)
    strip = make_shot(addon, sequencer_scene)
    shot = generate(blender, addon, strip, "draft")
    assert shot.status == "DONE", shot.message
    take = shot.takes[0]
    assert take.backend == "wan2gp 'wan2gp'" and take.template == "wan2gp_draft_5b"
    movie = placed_strip(addon, sequencer_scene, shot)
    compat = addon.sequencer.compat
    assert movie.type == "MOVIE" and (compat.left_handle(movie), compat.duration(movie)) == (1, 24)
    with av.open(take.filepath) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 24


def test_wan2gp_takes_headless(addon, sequencer_scene, blender, wan2gp, tmp_path):
    make_shot(addon, sequencer_scene)
    result, report = run_batch(blender, addon, sequencer_scene, tmp_path, "--server", f"wan2gp={wan2gp}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["shots"][0]["status"] == "done"
    assert report["shots"][0]["backend"].startswith("wan2gp '127.0.0.1:")  # named after its address


def test_wan2gp_unreachable_names_the_fix(addon, sequencer_scene, blender):
    add_server(blender, addon.__name__, "wan2gp", "http://127.0.0.1:9/mcp/")
    shot = generate(blender, addon, make_shot(addon, sequencer_scene), "draft")
    assert shot.status == "FAILED"
    assert "wgp.py --mcp" in shot.message


def test_litellm_cloud_image_and_video_takes(addon, sequencer_scene, blender, litellm):
    blender.context.preferences.system.use_online_access = True
    sequencer_scene.shotcaller_project.allow_cloud = True
    add_server(blender, addon.__name__, "litellm", litellm, api_key=MASTER_KEY, models=MEDIA_MODELS, locality="CLOUD")
    image = generate(blender, addon, make_shot(addon, sequencer_scene, "image"), "final")
    assert image.status == "DONE", image.message
    assert placed_strip(addon, sequencer_scene, image).type == "IMAGE"
    assert "cloud" in image.takes[0].reason.lower()
    compat = importlib.import_module(f"{addon.__name__}.sequencer.compat")
    video_strip = compat.new_color_strip(sequencer_scene.sequence_editor, "video shot", 1, 40, 24)
    video_strip.shotcaller.prompt = "a kite over dunes"
    for strip in compat.all_strips(sequencer_scene.sequence_editor):
        strip.select = strip == video_strip
    video = generate(blender, addon, video_strip, "final")
    assert video.status == "DONE", video.message
    movie = placed_strip(addon, sequencer_scene, video)
    assert movie.type == "MOVIE" and compat.duration(movie) == 24  # trimmed to the shot
    assert MASTER_KEY not in json.dumps([dict(t.items()) for t in video.takes], default=str)
    # The Project panel shows what the proxy reported the two takes cost, per backend.
    spent = image.takes[0].cost + video.takes[0].cost
    assert video.takes[0].cost > 0 and video.takes[0].cost_source == "reported by LiteLLM"
    project = sequencer_scene.shotcaller_project
    assert project.spent == pytest.approx(spent)
    project.budget = 5.0
    panels = importlib.import_module(f"{addon.__name__}.panels.backends")
    shown = stand_in_layout.draw(panels.SEQUENCER_PT_shotcaller_project, blender.context).splitlines()
    assert f"Spent {spent:.2f}, {5.0 - spent:.2f} left" in shown and f"  litellm: {spent:.2f}" in shown, shown


def test_a_rate_limited_litellm_video_says_once_what_happened_and_what_happens_next(
    addon, sequencer_scene, blender, litellm
):
    blender.context.preferences.system.use_online_access = True
    sequencer_scene.shotcaller_project.allow_cloud = True
    add_server(blender, addon.__name__, "litellm", litellm, api_key=MASTER_KEY, models=MEDIA_MODELS, locality="CLOUD")
    strip = make_shot(addon, sequencer_scene, "video")
    strip.shotcaller.prompt = "a paper boat [[fail:rate_wait]]"  # the provider: 429, "Please try again in 3s."
    shot = generate(blender, addon, strip, "final")
    assert shot.status == "FAILED"
    message = shot.message
    assert message.count("Please try again in 3s") == 1 and ", 3 times" in message, message
    assert "Nothing more will be tried for this shot: generate it again in 3 s or later" in message
    assert "tried again later" not in message and "model group" not in message and len(message) < 600


def test_litellm_is_not_used_when_the_project_is_local_only(addon, sequencer_scene, blender, litellm):
    blender.context.preferences.system.use_online_access = True
    add_server(blender, addon.__name__, "litellm", litellm, api_key=MASTER_KEY, models=MEDIA_MODELS, locality="CLOUD")
    shot = generate(blender, addon, make_shot(addon, sequencer_scene, "image"), "final")
    assert shot.status == "FAILED"
    assert "cloud" in shot.message.lower()


def test_litellm_takes_headless_with_the_key_from_the_environment(addon, sequencer_scene, blender, litellm, tmp_path):
    make_shot(addon, sequencer_scene, "image")
    options = ["--server", f"litellm={litellm}", "--litellm-models", MEDIA_MODELS, "--quality", "final"]
    options += ["--allow-cloud", "--online-access"]
    result, report = run_batch(
        blender, addon, sequencer_scene, tmp_path, *options, env={"SHOTCALLER_LITELLM_KEY": MASTER_KEY}
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert report["shots"][0]["status"] == "done"
    assert MASTER_KEY not in output and MASTER_KEY not in json.dumps(report)
