"""The capability registry: locality from configuration, views with discovery, OOM and missing-model memory."""

import pytest
from routing_helpers import DRAFT, FINAL

from backend_doubles import ScriptedBackend
from shotcaller.routing.registry import (
    CapabilityRegistry,
    Discovery,
    InstanceConfig,
    Locality,
    config_for,
    locality_from_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", Locality.THIS_MACHINE),
        ("http://127.0.0.1:8188", Locality.THIS_MACHINE),
        ("http://localhost:8188", Locality.THIS_MACHINE),
        ("http://[::1]:8188", Locality.THIS_MACHINE),
        ("http://192.168.1.20:8188", Locality.LOCAL_NETWORK),
        ("http://10.0.0.5:7866/mcp/", Locality.LOCAL_NETWORK),
        ("http://gpu-box-2:8188", Locality.LOCAL_NETWORK),
        ("http://render.local:8188", Locality.LOCAL_NETWORK),
        ("https://api.example.com", Locality.CLOUD),
        ("https://8.8.8.8", Locality.CLOUD),
    ],
)
def test_locality_from_url(url, expected):
    assert locality_from_url(url) is expected


def test_configured_locality_overrides_the_url():
    assert InstanceConfig("comfyui", url="https://render.example.com", is_local=True).locality is Locality.LOCAL_NETWORK
    assert InstanceConfig("comfyui", url="http://127.0.0.1:1", is_local=True).locality is Locality.THIS_MACHINE
    assert InstanceConfig("comfyui", url="http://127.0.0.1:1", is_local=False).locality is Locality.CLOUD


def registry(*pairs, now=None):
    clock = (lambda: now[0]) if now is not None else None
    kwargs = {"clock": clock} if clock else {}
    return CapabilityRegistry(list(pairs), **kwargs)


def test_views_carry_configuration_offers_and_discovery():
    backend = ScriptedBackend("box", [DRAFT, FINAL])
    config = InstanceConfig(
        "scripted", name="box", url="http://192.168.0.9:8188", slots=3, cost_per_second=0.01, cost_per_shot=0.2
    )
    reg = registry((backend, config))
    reg.record_discovery(
        "box", Discovery(vram_total_gb=24.0, vram_free_gb=20.5, vram_source="reported by ComfyUI", queue_depth=5)
    )
    (view,) = reg.views({"box": 2})
    assert view.offers == (DRAFT, FINAL)
    assert (view.slots, view.cost_per_second, view.cost_per_shot) == (3, 0.01, 0.2)
    assert view.locality is Locality.LOCAL_NETWORK and view.is_local
    assert (view.vram_free_gb, view.vram_source) == (20.5, "reported by ComfyUI")
    assert view.foreign_queue == 3  # 5 on the server, 2 of them ours
    assert view.name == "scripted on box"


def test_configured_vram_wins_over_what_the_server_reports():
    reg = registry((ScriptedBackend("box"), InstanceConfig("scripted", name="box", vram_gb=12.0)))
    reg.record_discovery("box", Discovery(vram_free_gb=22.0, vram_source="NVML"))
    (view,) = reg.views()
    assert (view.vram_free_gb, view.vram_source) == (12.0, "configured")


def test_missing_models_and_oom_ceilings_expire():
    now = [0.0]
    reg = registry((ScriptedBackend("box"), InstanceConfig("scripted", name="box")), now=now)
    reg.mark_missing("box", "wan5b", "model file missing")
    reg.record_oom("box", "wan5b", 40.0)
    reg.record_oom("box", "wan5b", 30.0)  # a smaller job ran out too: the ceiling drops
    (view,) = reg.views()
    assert view.missing == {"wan5b": "model file missing"} and view.oom_ceilings == {"wan5b": 30.0}
    now[0] = reg.missing_ttl + 1
    (view,) = reg.views()
    assert view.missing == {} and view.oom_ceilings == {"wan5b": 30.0}
    now[0] = reg.oom_ttl + 1
    assert reg.views()[0].oom_ceilings == {}


def test_oom_teaches_a_memory_ceiling_for_every_model_on_that_instance():
    now = [0.0]
    reg = registry((ScriptedBackend("box"), InstanceConfig("scripted", name="box")), now=now)
    reg.record_oom("box", "wan5b", 20.0, need_gb=9.5)
    reg.record_oom("box", "wan5b", 10.0, need_gb=8.5)
    assert reg.views()[0].oom_gb == 8.5
    now[0] = reg.oom_ttl + 1
    assert reg.views()[0].oom_gb is None


def test_disabled_instances_are_not_routed_to():
    reg = registry(
        (ScriptedBackend("a"), InstanceConfig("scripted", name="a", enabled=False)),
        (ScriptedBackend("b"), InstanceConfig("scripted", name="b")),
    )
    assert [v.instance_id for v in reg.views()] == ["b"]


def test_from_backends_and_status_rows():
    backend = ScriptedBackend("box", max_concurrent=2, base_url="http://127.0.0.1:9")
    assert config_for(backend) == InstanceConfig("scripted", name="box", url="http://127.0.0.1:9", slots=2)
    reg = CapabilityRegistry.from_backends([backend])
    reg.record_discovery("box", Discovery(vram_total_gb=8.0, vram_free_gb=6.0, vram_source="NVML", error=""))
    (row,) = reg.status()
    assert (row.name, row.slots, row.vram_free_gb, row.vram_source, row.locality) == (
        "scripted on box",
        2,
        6.0,
        "NVML",
        "this machine",
    )
