"""Offers from what a Wan2GP server says: its model list, their schemas and availability."""

from __future__ import annotations

import pytest

from devservers.wan2gp.launch import start_server
from shotcaller.backends.wan2gp import Wan2GPBackend
from shotcaller.backends.wan2gp.discovery import model_from_schema, preset_for
from shotcaller.jobs.events import TERMINAL_EVENTS, JobRouted, JobSucceeded
from shotcaller.jobs.scheduler import Scheduler
from shotcaller.routing.discovery import probe_instance
from shotcaller.routing.registry import CapabilityRegistry
from shotcaller.shots import Quality, make_spec


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    available = ["--available-model", "ti2v_2_2_fastwan", "--available-model", "alpha2"]
    handle = start_server(tmp_path_factory.mktemp("wan2gp-discovery"), step_seconds=0.01, extra_args=available)
    yield handle
    handle.stop()


def test_downloaded_models_beyond_the_built_in_tiers_become_offers(server):
    backend = Wan2GPBackend("gpu-1", server.mcp_url, vram_gb=24)
    before = {o.name for o in backend.offers()}
    found = backend.discover()
    assert found.listed >= 10 and found.missing == {}  # the reference server has every built-in model
    offers = {o.name: o for o in backend.offers()}
    assert set(offers) - before == {"wan2gp_ti2v_2_2_fastwan", "wan2gp_alpha2"}  # only the downloaded ones
    fastwan, alpha = offers["wan2gp_ti2v_2_2_fastwan"], offers["wan2gp_alpha2"]
    assert (fastwan.quality, alpha.quality) == (Quality.DRAFT, Quality.FINAL)
    assert fastwan.label == "Wan2.2 TextImage2video FastWan 5B (Wan2GP)"
    assert alpha.vram_gb == pytest.approx(8.1)  # 14B, as the built-in 14B's figure
    assert fastwan.max_frames == 145  # 97 frames at its 16 fps, for a 24 fps shot


def test_a_discovered_model_is_routable_and_makes_a_take(server, tmp_path):
    backend = Wan2GPBackend("gpu-1", server.mcp_url, vram_gb=24, poll_interval=0.05)
    registry = CapabilityRegistry.from_backends([backend])
    probe_instance(registry, None, registry.instances[0])
    assert "wan2gp_alpha2" in {o.name for o in registry.views()[0].offers}
    scheduler = Scheduler(registry=registry)
    try:
        spec = make_spec(shot_id="discovered01", label="Disc", prompt="a kite over dunes", width=448, height=256,
                         fps=16, frame_count=17, quality=Quality.FINAL, backend_pin="wan2gp_alpha2")  # fmt: skip
        job = scheduler.submit(spec, str(tmp_path), "kite")
        events = []
        while not events or not isinstance(events[-1], TERMINAL_EVENTS):
            event = scheduler.events.get(timeout=60)
            if event.job_id == job:
                events.append(event)
    finally:
        scheduler.shutdown()
    done = events[-1]
    assert isinstance(done, JobSucceeded), done
    assert [e.template for e in events if isinstance(e, JobRouted)] == ["wan2gp_alpha2"]
    assert done.take.parameters["model_type"] == "alpha2" and done.take.parameters["steps"] == "model default"


def test_facts_from_a_schema_and_fallbacks_for_odd_numbers():
    model = model_from_schema("newvid_22B", {"name": "NewVid 22B Distilled", "fps": 24, "frames_minimum": 9,
                                             "frames_steps": 8, "frames_maximum": 241, "media_inputs":
                                             {"image": {"start": True}}})  # fmt: skip
    assert (model.fps, model.frames_minimum, model.frames_steps, model.frames_maximum) == (24, 9, 8, 241)
    assert model.takes_start_image and model.vram_base_gb == pytest.approx(11.3)
    preset = preset_for(model)
    assert preset.quality is Quality.DRAFT and preset.image_model == "newvid_22B" and preset.steps == 0
    odd = model_from_schema("odd", {"fps": -3, "frames_maximum": "many"})
    assert (odd.fps, odd.frames_maximum, odd.vram_base_gb, odd.name) == (16, 97, 8.0, "odd")
