"""Finished work is fetched again, not made again: a download cut off after the server finished is
retried against the same server job before any failover could generate the shot elsewhere.

Each reference server cuts its first download off halfway (`--cut-downloads 1`); a second server
stands by that a failover would use. The servers' own job counts show nothing was generated twice.
(The LiteLLM video content case runs against the real proxy in test_retries_proxy.py.)
"""

from __future__ import annotations

import json
import urllib.request

from devservers.comfyui.launch import start_server as start_comfyui
from devservers.wan2gp.launch import start_server as start_wan2gp
from session_events import run
from shotcaller.jobs.events import JobProgress, JobRouted, JobSucceeded
from shotcaller.jobs.session import BackendSettings, Session
from shotcaller.routing.registry import InstanceConfig
from shotcaller.shots import make_spec

CUT = ["--cut-downloads", "1"]


def shot(shot_id: str, **overrides):
    fields = {"shot_id": shot_id, "label": shot_id, "prompt": "a lighthouse at dusk", "width": 448,
              "height": 256, "frame_count": 17, "fps": 8}  # fmt: skip
    fields.update(overrides)
    return make_spec(**fields)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def two_servers(kind: str, first_url: str, second_url: str, sessions: list[Session]) -> Session:
    extra = {"vram_gb": 24} if kind == "wan2gp" else {}
    settings = BackendSettings(
        probe_interval_seconds=0,
        instances=(
            InstanceConfig(kind, name="gpu-1", url=first_url, **extra),
            InstanceConfig(kind, name="gpu-2", url=second_url, **extra),
        ),
    )
    session = Session(settings)
    sessions.append(session)
    return session


def assert_fetched_again_on_the_first(events: list) -> None:
    done = events[-1]
    assert isinstance(done, JobSucceeded), done
    assert [e.instance_id for e in events if isinstance(e, JobRouted)] == ["gpu-1"]  # no failover
    again = [e.message for e in events if isinstance(e, JobProgress) and "fetching the finished job again" in e.message]
    assert len(again) == 1, again
    assert done.take.backend_instance == "gpu-1"
    for path in done.take.files:
        with open(path, "rb") as handle:
            assert handle.read(12)[4:8] == b"ftyp"  # the whole video, not the half that came first


def test_a_comfyui_view_cut_off_is_fetched_again_from_the_same_prompt(tmp_path, sessions):
    with start_comfyui(tmp_path / "a", extra_args=CUT) as first, start_comfyui(tmp_path / "b") as second:
        session = two_servers("comfyui", first.url, second.url, sessions)
        events = run(session, shot("cutview01"), tmp_path / "takes")
        ran_first, ran_second = len(get_json(first.url + "/history")), len(get_json(second.url + "/history"))
    assert_fetched_again_on_the_first(events)
    assert (ran_first, ran_second) == (1, 0)  # one prompt, on the server that made it


def test_a_wan2gp_gallery_download_cut_off_is_fetched_again_from_the_same_job(tmp_path, sessions):
    with (
        start_wan2gp(tmp_path / "a", step_seconds=0.01, extra_args=CUT) as first,
        start_wan2gp(tmp_path / "b", step_seconds=0.01) as second,
    ):
        session = two_servers("wan2gp", first.mcp_url, second.mcp_url, sessions)
        events = run(session, shot("cutgallery01"), tmp_path / "takes")
        ran_first = get_json(first.url + "/reference/state")["jobs"]
        ran_second = get_json(second.url + "/reference/state")["jobs"]
    assert_fetched_again_on_the_first(events)
    assert (ran_first, ran_second) == (1, 0)
