"""Discovery: generic probes, NVML for this machine, breakers fed by probes, a real ComfyUI server, the thread."""

import sys
import threading
import types

import pytest

from backend_doubles import FakeProbe, ScriptedBackend
from devservers.comfyui.launch import start_server
from shotcaller.backends.base import BackendUnreachable
from shotcaller.routing import discovery
from shotcaller.routing.discovery import BackgroundProber, discover_comfyui, probe_instance
from shotcaller.routing.health import BreakerState, CircuitBreakers
from shotcaller.routing.registry import CapabilityRegistry, InstanceConfig

GB = 1024**3


@pytest.fixture
def no_nvml(monkeypatch):
    monkeypatch.setattr(discovery, "_nvml_checked", True)
    monkeypatch.setattr(discovery, "_nvml", None)


@pytest.fixture
def fake_nvml(monkeypatch):
    info = types.SimpleNamespace(total=16 * GB, free=10 * GB)
    module = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda index: index,
        nvmlDeviceGetMemoryInfo=lambda handle: info,
    )
    monkeypatch.setitem(sys.modules, "pynvml", module)
    monkeypatch.setattr(discovery, "_nvml_checked", False)
    monkeypatch.setattr(discovery, "_nvml", None)
    yield module
    monkeypatch.setattr(discovery, "_nvml_checked", False)


def registry_of(backend, url=""):
    return CapabilityRegistry([(backend, InstanceConfig("scripted", name=backend.instance_id, url=url))])


def test_generic_probe_reports_vram_and_queue(no_nvml):
    backend = ScriptedBackend("box", probe_result=FakeProbe(vram_total=24 * GB, vram_free=9 * GB, queue_length=4))
    reg = registry_of(backend, "http://192.168.0.2:1")
    found = probe_instance(reg, None, reg.instances[0])
    assert (found.vram_total_gb, found.vram_free_gb, found.queue_depth) == (24.0, 9.0, 4)
    assert found.vram_source == "reported by scripted 'box'"
    assert reg.views()[0].vram_free_gb == 9.0


def test_nvml_answers_for_a_backend_on_this_machine_that_reports_no_vram(fake_nvml):
    local = registry_of(ScriptedBackend("here"), "http://127.0.0.1:1")
    found = probe_instance(local, None, local.instances[0])
    assert (found.vram_free_gb, found.vram_source) == (10.0, "NVML")
    remote = registry_of(ScriptedBackend("there"), "http://192.168.0.3:1")
    assert probe_instance(remote, None, remote.instances[0]).vram_free_gb is None  # NVML cannot see that box


def test_without_pynvml_nvml_is_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    monkeypatch.setattr(discovery, "_nvml_checked", False)
    assert discovery.nvml_memory() is None


def test_unreachable_probe_opens_the_breaker_and_keeps_the_last_figures(no_nvml):
    backend = ScriptedBackend("box", probe_result=FakeProbe(vram_total=8 * GB, vram_free=6 * GB))
    reg, health = registry_of(backend), CircuitBreakers()
    probe_instance(reg, health, reg.instances[0])
    backend.probe_result = BackendUnreachable("nothing is listening")
    found = probe_instance(reg, health, reg.instances[0])
    assert found.error == "nothing is listening" and found.vram_free_gb == 6.0
    assert health.state("box") is BreakerState.OPEN


def test_comfyui_discovery_against_the_reference_server(tmp_path, no_nvml):
    from shotcaller.backends.comfyui.backend import ComfyUIBackend

    with start_server(tmp_path, vram_gb=12) as server:
        backend = ComfyUIBackend("ref", server.url)
        found = discover_comfyui(backend)
        assert found.vram_total_gb == pytest.approx(12.0) and found.vram_source == "reported by ComfyUI"
        assert found.queue_depth == 0
        assert "wan22_ti2v_5b_t2v" not in found.missing  # the reference server has the Wan 2.2 5B files
    with start_server(tmp_path / "bare", models=[]) as bare:
        found = discover_comfyui(ComfyUIBackend("bare", bare.url))
        assert "3 model files" in found.missing["wan22_ti2v_5b_t2v"]
        assert found.vram_free_gb is None  # a CPU server: its "VRAM" is RAM, not a GPU figure


def test_background_prober_runs_off_the_calling_thread_and_wakes_the_scheduler(no_nvml):
    seen_threads = []
    probed = threading.Event()

    class Watched(ScriptedBackend):
        def probe(self):
            seen_threads.append(threading.current_thread().name)
            return FakeProbe(vram_free=GB)

    reg = registry_of(Watched("box"))
    prober = BackgroundProber(reg, CircuitBreakers(), interval=60, on_probed=probed.set)
    prober.start()
    try:
        assert probed.wait(5)
    finally:
        prober.stop()
    assert seen_threads and threading.current_thread().name not in seen_threads
    assert reg.views()[0].vram_free_gb == 1.0 and prober.rounds >= 1
