"""ComfyUI's API nodes: the comfy.org key goes in the prompt's extra_data, as ComfyUI hands it to
them; a template using them on a server whose entry has no key is refused before it is sent."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from devservers.comfyui.launch import start_server
from shotcaller.jobs.events import TERMINAL_EVENTS, JobFailed, JobSucceeded
from shotcaller.jobs.session import BackendSettings, Session
from shotcaller.routing.registry import InstanceConfig
from shotcaller.shots import make_spec

TEMPLATES = str(Path(__file__).parent / "api_node_templates")
KEY = "comfyui-2f8e6d4c0b9a7e5d3c1b"


def run(config: InstanceConfig, folder: Path):
    session = Session(BackendSettings(instances=(config,), template_folder=TEMPLATES, probe_interval_seconds=0))
    spec = make_spec(shot_id="apinode0001", label="Still", prompt="a red kite", media="image", quality="final",
                     width=256, height=256, frame_count=1, fps=24, backend_pin="dalle2_t2i")  # fmt: skip
    try:
        job_id = session.scheduler.submit(spec, str(folder), "take")
        while True:
            event = session.events.get(timeout=60)
            if event.job_id == job_id and isinstance(event, TERMINAL_EVENTS):
                return event
    finally:
        session.close()


def history(url: str) -> dict:
    with urllib.request.urlopen(url + "/history", timeout=10) as answer:
        return json.loads(answer.read())


def test_with_the_key_the_api_node_template_runs_and_the_key_is_kept_nowhere(tmp_path):
    with start_server(tmp_path / "server") as server:
        config = InstanceConfig(kind="comfyui", name="gpu-cloud", url=server.url, options={"comfy_api_key": KEY})
        done = run(config, tmp_path / "takes")
        entries = history(server.url)
    assert isinstance(done, JobSucceeded), done
    assert done.take.template == "dalle2_t2i"
    assert len(entries) == 1 and KEY not in json.dumps(entries)  # ComfyUI keeps it out of its history
    for path in (tmp_path / "takes").rglob("*"):
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path


def test_without_a_key_the_template_is_refused_before_it_is_sent(tmp_path):
    with start_server(tmp_path / "server") as server:
        failed = run(InstanceConfig(kind="comfyui", name="gpu-cloud", url=server.url), tmp_path / "takes")
        entries = history(server.url)
    assert isinstance(failed, JobFailed), failed
    assert "uses ComfyUI API nodes (OpenAIDalle2 (node 1)), which need a comfy.org API key" in failed.text
    assert "ComfyUI on gpu-cloud has none" in failed.text and "comfy.org API key in its entry" in failed.text
    assert entries == {}  # nothing was submitted


def test_the_reference_api_node_itself_fails_without_the_key(tmp_path):
    """What real ComfyUI does when a client sends no key: the workflow runs up to the node and fails there."""
    from devservers.comfyui.testing import Client

    prompt = json.loads((Path(TEMPLATES) / "dalle2_t2i.json").read_text())
    with start_server(tmp_path / "server") as server:
        client = Client(server.url)
        prompt_id = client.submit(prompt).json["prompt_id"]
        entry = client.wait_history(prompt_id)
    messages = dict((kind, data) for kind, data in entry["status"]["messages"])
    assert "Please login first" in messages["execution_error"]["exception_message"]
