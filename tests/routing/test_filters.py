"""Every filter: passes what it should, rejects what it should, and says why in words."""

from routing_helpers import DRAFT, FINAL, I2V, IMAGE, candidate, context, needs

from shotcaller.routing.candidates import ANY_OFFER, Exclusion
from shotcaller.routing.filters import (
    budget_filter,
    excluded_filter,
    frames_filter,
    health_filter,
    init_image_filter,
    locality_filter,
    media_filter,
    missing_model_filter,
    pin_filter,
    vram_filter,
)
from shotcaller.routing.health import CircuitBreakers
from shotcaller.routing.policy import RoutingPolicy
from shotcaller.routing.registry import Locality
from shotcaller.routing.stats import SpeedStats


def test_media_filter():
    assert media_filter(needs(), candidate(DRAFT), context()) is None
    assert media_filter(needs(), candidate(IMAGE), context()) == "makes image, not video"


def test_pin_filter_matches_instance_kind_or_template_case_insensitively():
    pinned = needs(backend_pin="Box")
    assert pin_filter(pinned, candidate(name="box"), context()) is None
    assert pin_filter(needs(backend_pin="scripted"), candidate(name="other"), context()) is None
    assert pin_filter(needs(backend_pin="wan5b"), candidate(name="other"), context()) is None
    assert pin_filter(needs(backend_pin="box-2"), candidate(name="box"), context()) == "the shot is pinned to 'box-2'"
    assert pin_filter(needs(), candidate(), context()) is None


def test_init_image_filter():
    assert init_image_filter(needs(), candidate(I2V), context()) == (
        "its TI2V 5B i2v starts from an init image and the shot has none"
    )
    assert init_image_filter(needs(init_image="/tmp/first.png"), candidate(I2V), context()) is None
    assert init_image_filter(needs(), candidate(DRAFT), context()) is None


def test_frames_filter_uses_max_frames():
    from dataclasses import replace

    short = replace(DRAFT, max_frames=81)
    assert frames_filter(needs(frame_count=81), candidate(short), context()) is None
    assert frames_filter(needs(frame_count=121), candidate(short), context()) == (
        "its TI2V 5B makes at most 3.4 s (81 frames at 24 fps) and the shot lasts 5.0 s (121 frames)"
    )
    assert frames_filter(needs(frame_count=500), candidate(DRAFT), context()) is None  # 0: no limit


def test_locality_filter_project_setting_and_force_local():
    cloud = candidate(locality=Locality.CLOUD)
    lan = candidate(locality=Locality.LOCAL_NETWORK)
    assert locality_filter(needs(), cloud, context()) is None
    assert locality_filter(needs(), cloud, context(policy=RoutingPolicy(allow_cloud=False))) == (
        "is a cloud service and the project does not allow cloud backends"
    )
    assert locality_filter(needs(), cloud, context(policy=RoutingPolicy(force_local=True))) == (
        "is a cloud service and 'force local' is on for this project"
    )
    assert locality_filter(needs(), lan, context(policy=RoutingPolicy(force_local=True))) is None


def test_excluded_filter_whole_instance_offer_and_timed():
    whole = context(excluded={("box", ANY_OFFER): Exclusion("connection refused")})
    assert excluded_filter(needs(), candidate(), whole) == "already failed this job (connection refused)"
    one = context(excluded={("box", "wan14b"): Exclusion("model missing")})
    assert excluded_filter(needs(), candidate(DRAFT), one) is None
    timed = {("box", ANY_OFFER): Exclusion("busy", until=10.0)}
    assert excluded_filter(needs(), candidate(), context(excluded=timed, now=5.0)) == "already failed this job (busy)"
    assert excluded_filter(needs(), candidate(), context(excluded=timed, now=10.0)) is None


def test_missing_model_filter():
    missing = candidate(missing={"wan5b": "model file 'wan.safetensors' is missing on ComfyUI"})
    assert missing_model_filter(needs(), missing, context()) == "model file 'wan.safetensors' is missing on ComfyUI"
    assert missing_model_filter(needs(), candidate(), context()) is None


def test_vram_filter_estimates_need_against_free_vram():
    # FINAL at 832x480x49: 20 + 0.2 * 19.57 = 23.9 GB
    assert vram_filter(needs(), candidate(FINAL, vram_free_gb=24.0), context()) is None
    assert vram_filter(needs(), candidate(FINAL, vram_free_gb=12.0), context()) == (
        "its Wan 14B needs ~23.9 GB at 832x480, 49 frames and 12.0 GB are free"
    )
    assert vram_filter(needs(), candidate(FINAL), context()) is None  # nothing known: not a reason to refuse


def test_vram_filter_remembers_what_ran_out_of_memory():
    small, big = needs(width=640, height=352), needs()
    remembered = candidate(DRAFT, oom_ceilings={"wan5b": big.units})
    assert vram_filter(big, remembered, context()) == (
        "ran out of memory with its TI2V 5B at this size or smaller recently"
    )
    assert vram_filter(small, remembered, context()) is None


def test_vram_filter_after_an_oom_refuses_any_model_estimated_to_need_as_much_there():
    shot = needs()  # DRAFT needs ~8.0 GB here, FINAL ~23.9 GB
    burnt = dict(oom_gb=8.0)
    assert vram_filter(shot, candidate(FINAL, **burnt), context()) == (
        "its Wan 14B needs ~23.9 GB at 832x480, 49 frames and a job needing ~8.0 GB ran out of memory there recently"
    )
    assert vram_filter(needs(width=320, height=192), candidate(DRAFT, **burnt), context()) is None  # ~6.3 GB


def test_budget_filter():
    speeds = SpeedStats()
    speeds.record("box", "wan5b", seconds=20.0, units=needs().units)  # this shot takes 20 s there
    paid = candidate(cost_per_second=0.01, cost_per_shot=0.1)  # 0.1 + 0.2 = 0.30
    assert budget_filter(needs(), paid, context(speeds=speeds)) is None  # no budget
    assert budget_filter(needs(), paid, context(speeds=speeds, budget_left=1.0)) is None
    assert budget_filter(needs(), paid, context(speeds=speeds, budget_left=0.25)) == (
        "would cost ~0.30 and 0.25 of the project's budget is left"
    )
    assert budget_filter(needs(), candidate(), context(speeds=speeds, budget_left=0.0)) is None  # free is free


def test_health_filter_follows_the_circuit_breaker():
    now = [0.0]
    health = CircuitBreakers(failure_threshold=2, cooldown_seconds=30, clock=lambda: now[0])
    assert health_filter(needs(), candidate(), context(health=health)) is None
    health.record_failure("box", "connection refused", decisive=True)
    assert health_filter(needs(), candidate(), context(health=health)) == (
        "is down: connection refused; next try in 30 s"
    )
    now[0] = 31.0
    assert health_filter(needs(), candidate(), context(health=health)) is None  # half-open: one may test it
