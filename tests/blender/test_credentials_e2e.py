"""Servers that need a key, in real Blender: the access of a server's preferences entry (masked, kept
out of the .blend), shots from the sidebar on reference servers that demand a token or a header, a
refusal that says so (the Test button too), and a headless run whose credentials come from the
environment. Nothing written (the .blend, takes, their records, the journal, the decision log, the
report) and nothing printed carries a secret."""

from __future__ import annotations

import base64
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import stand_in_layout
from pump_driver import run_pump_until_idle
from reference_servers import reference_server

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok-blender-7d3f9a1c5e"
HEADER = ("X-Gateway-Secret", "gw-blender-2e8b4d6f0a")
USER, PASSWORD = "studio", "pw-blender-9c1e5a3d"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (TOKEN, HEADER[1], PASSWORD, BASIC)


@pytest.fixture(scope="module")
def comfyui_with_token(dev_python, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("comfyui-token"))
    args = ("--output-dir", output, "--step-seconds", "0.01", "--require-token", TOKEN)
    with reference_server(dev_python, "comfyui", *args) as url:
        yield url


@pytest.fixture(scope="module")
def wan2gp_with_header(dev_python, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("wan2gp-header"))
    args = ("--output-dir", output, "--step-seconds", "0.01", "--require-header", f"{HEADER[0]}: {HEADER[1]}")
    with reference_server(dev_python, "wan2gp", *args) as url:
        yield f"{url}/mcp/"


@pytest.fixture(scope="module")
def comfyui_with_basic(dev_python, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("comfyui-basic"))
    args = ("--output-dir", output, "--step-seconds", "0.01", "--require-basic", f"{USER}:{PASSWORD}")
    with reference_server(dev_python, "comfyui", *args) as url:
        yield url


def add_server(prefs, kind, name, url):
    item = prefs.instances.add()
    item.kind, item.name, item.url = kind, name, url
    return item


def make_shot(compat, scene, name, start):
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 128, 96, 100
    scene.render.fps = 24
    strip = compat.new_color_strip(scene.sequence_editor, name, 1, start, 24)
    strip.shotcaller.prompt = "a paper boat in a gutter"
    return strip


def generate(bpy, shotcaller_addon, scene, strip):
    compat = importlib.import_module(f"{shotcaller_addon}.sequencer.compat")
    for other in compat.all_strips(scene.sequence_editor):
        other.select = other == strip
    assert bpy.ops.sequencer.shotcaller_generate(quality="draft") == {"FINISHED"}
    pump = importlib.import_module(f"{shotcaller_addon}.mainthread.pump")
    run_pump_until_idle(pump, describe=lambda: strip.shotcaller.message)
    return strip.shotcaller


def assert_no_secret_in(paths, *texts):
    files = [p for path in paths for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} in {path}"
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_the_entry_keeps_every_kind_masked_and_out_of_the_blend(prefs, blender, shotcaller_addon, tmp_path):
    bpy = blender
    item = add_server(prefs, "comfyui", "gpu-rented", "http://127.0.0.1:8188")
    credentials = item.credentials
    for name in ("bearer_token", "basic_password", "comfy_api_key"):
        assert credentials.bl_rna.properties[name].subtype == "PASSWORD", name
    assert bpy.ops.preferences.shotcaller_header_add(index=0) == {"FINISHED"}
    assert bpy.ops.preferences.shotcaller_header_add(index=0) == {"FINISHED"}
    credentials.headers[0].name, credentials.headers[0].value = HEADER
    credentials.headers[1].name, credentials.headers[1].value = "CF-Access-Client-Id", "client-id-1"
    assert credentials.headers[0].bl_rna.properties["value"].subtype == "PASSWORD"
    credentials.basic_user, credentials.basic_password = USER, PASSWORD
    assert bpy.ops.preferences.shotcaller_header_remove(index=0, header=1) == {"FINISHED"}
    assert [(h.name, h.value) for h in credentials.headers] == [HEADER]

    preferences = importlib.import_module(f"{shotcaller_addon}.settings.preferences")
    settings = preferences.current_settings()
    options = settings.instances[0].options
    assert options["headers"] == [HEADER] and options["basic_password"] == PASSWORD
    assert not any(secret in repr(settings) for secret in SECRETS)

    shown = stand_in_layout.draw(
        type(prefs), bpy.context, instances=prefs.instances, active_instance=0, template_folder=""
    )
    assert "[preferences.shotcaller_header_add]" in shown
    assert "Headless: $SHOTCALLER_GPU_RENTED_TOKEN, _USER, _PASSWORD, _HEADERS" in shown

    film = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film))
    assert_no_secret_in([film])


def test_sidebar_shots_on_servers_that_demand_a_token_and_a_header(
    prefs, blender, shotcaller_addon, sequencer_scene, comfyui_with_token, wan2gp_with_header, tmp_path
):
    bpy = blender
    compat = importlib.import_module(f"{shotcaller_addon}.sequencer.compat")
    comfy = add_server(prefs, "comfyui", "gpu-rented", comfyui_with_token)
    comfy.credentials.bearer_token = TOKEN
    shot = generate(bpy, shotcaller_addon, sequencer_scene, make_shot(compat, sequencer_scene, "Comfy", 1))
    assert shot.status == "DONE", shot.message
    assert shot.takes[0].backend == "comfyui 'gpu-rented'"

    comfy.enabled = False
    wan = add_server(prefs, "wan2gp", "gpu-tunnel", wan2gp_with_header)
    header = wan.credentials.headers.add()
    header.name, header.value = HEADER
    shot = generate(bpy, shotcaller_addon, sequencer_scene, make_shot(compat, sequencer_scene, "Wan", 40))
    assert shot.status == "DONE", shot.message
    assert shot.takes[0].backend == "wan2gp 'gpu-tunnel'"

    # A wrong value: the shot fails with its own words, and the Test button says the same.
    wan.enabled, comfy.enabled = False, True
    comfy.credentials.bearer_token = "tok-wrong-00000"
    shot = generate(bpy, shotcaller_addon, sequencer_scene, make_shot(compat, sequencer_scene, "Wrong", 80))
    assert shot.status == "FAILED"
    assert "ComfyUI on gpu-rented refused the credentials" in shot.message and "check the token" in shot.message
    assert bpy.ops.preferences.shotcaller_instance_test(index=0) == {"FINISHED"}
    run_pump_until_idle(importlib.import_module(f"{shotcaller_addon}.mainthread.pump"))
    assert comfy.test_state == "REFUSED", comfy.test_report
    assert "refused the credentials" in comfy.test_report and "tok-wrong" not in comfy.test_report

    film = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film))
    assert_no_secret_in([film, tmp_path / "takes"], shot.message, comfy.test_report)


def test_headless_credentials_come_from_the_environment_and_are_never_printed(
    prefs, blender, shotcaller_addon, sequencer_scene, comfyui_with_basic, wan2gp_with_header, tmp_path
):
    bpy = blender
    compat = importlib.import_module(f"{shotcaller_addon}.sequencer.compat")
    make_shot(compat, sequencer_scene, "Intro", 1)
    make_shot(compat, sequencer_scene, "Street", 40)
    film = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(film))
    report = tmp_path / "report.json"
    env = {
        **os.environ,
        "SHOTCALLER_GPU_RENTED_USER": USER,
        "SHOTCALLER_GPU_RENTED_PASSWORD": PASSWORD,
        "SHOTCALLER_GPU_TUNNEL_HEADERS": f"{HEADER[0]}: {HEADER[1]}\n",
    }
    batch = Path(importlib.import_module(shotcaller_addon).__file__).parent / "batch.py"
    base = [sys.executable, str(REPO_ROOT / "tools" / "blender_run.py"), str(film), str(batch), "--"]
    outputs = ["--output-dir", str(tmp_path / "batch_takes"), "--report", str(report)]
    servers = [
        "--server",
        f"comfyui:gpu-rented={comfyui_with_basic}",
        "--server",
        f"wan2gp:gpu-tunnel={wan2gp_with_header}",
    ]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [*base, *args, *outputs]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, env=env)

    result = run(*servers)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "sends basic auth (from the environment ($SHOTCALLER_GPU_RENTED_USER, $SHOTCALLER_GPU_RENTED_PASSWORD))"
        in result.stdout
    ), result.stdout
    assert f"sends a header ({HEADER[0]}) (from the environment ($SHOTCALLER_GPU_TUNNEL_HEADERS))" in result.stdout
    shots = json.loads(report.read_text())["shots"]
    assert [s["status"] for s in shots] == ["done", "done"]
    assert_no_secret_in([report, tmp_path / "batch_takes"], result.stdout, result.stderr)

    # Without them the run says which server wants what, and which variables it reads.
    del env["SHOTCALLER_GPU_RENTED_USER"], env["SHOTCALLER_GPU_RENTED_PASSWORD"]
    result = run(*servers[:2])
    assert result.returncode == 1
    assert "ComfyUI on gpu-rented asks for credentials (HTTP 401" in result.stdout, result.stdout
    assert (
        "$SHOTCALLER_GPU_RENTED_TOKEN, or $SHOTCALLER_GPU_RENTED_USER and $SHOTCALLER_GPU_RENTED_PASSWORD"
        in result.stdout
    ), result.stdout
