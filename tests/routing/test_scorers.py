"""Every scorer: its number and its reason."""

from dataclasses import replace

import pytest
from routing_helpers import DRAFT, FINAL, candidate, context, needs

from shotcaller.routing.policy import ScoreWeights
from shotcaller.routing.registry import Locality
from shotcaller.routing.scorers import (
    about_seconds,
    describe,
    estimate_cost,
    fit_note,
    locality_factor,
    quality_score,
    run_seconds,
    score,
    seconds_text,
    tier_score,
    wait_seconds,
)
from shotcaller.routing.stats import SpeedStats


def measured(rate: float, instance="box", offer="wan5b") -> SpeedStats:
    speeds = SpeedStats()
    speeds.record(instance, offer, seconds=rate, units=1.0)
    return speeds


def test_tier_score_prefers_the_shots_own_tier_and_says_when_it_cannot():
    assert tier_score(needs(quality="draft"), candidate(DRAFT)) == (0, "draft template for a draft shot")
    assert tier_score(needs(quality="final"), candidate(DRAFT)) == (
        1,
        "no final template available, using its draft one",
    )


def test_quality_score_finals_want_the_largest_model_drafts_do_not_care():
    assert quality_score(needs(quality="final"), candidate(FINAL)) == (
        20.0,
        "the largest model that fits (~20 GB class)",
    )
    assert quality_score(needs(quality="draft"), candidate(FINAL)) == (0.0, "")


def test_run_seconds_is_measured_speed_times_work():
    shot = needs()  # 832x480x49 = 19.57 megapixel-frames
    assert run_seconds(shot, candidate(), context(speeds=measured(2.0))) == pytest.approx(2.0 * shot.units)


def test_wait_seconds_counts_our_queue_and_other_peoples_jobs_over_slots():
    speeds = SpeedStats()
    speeds.record("box", "wan5b", seconds=40.0, units=10.0)  # a typical job there: 40 s
    ctx = context(speeds=speeds, waits={"box": 15.0})
    assert wait_seconds(candidate(), ctx) == 15.0
    assert wait_seconds(candidate(foreign_queue=3, slots=2), ctx) == pytest.approx(15.0 + 3 * 40.0 / 2)


def test_locality_factor():
    assert locality_factor(candidate(), context()) == (1.0, "on this machine")
    weights = ScoreWeights(remote_penalty=0.2)
    assert locality_factor(candidate(locality=Locality.LOCAL_NETWORK), context(weights=weights)) == (
        1.2,
        "on the local network",
    )
    assert locality_factor(candidate(locality=Locality.CLOUD), context(weights=weights))[1] == "in the cloud"


def test_estimate_cost_per_shot_plus_per_second():
    shot = needs()
    ctx = context(speeds=measured(1.0))
    assert estimate_cost(shot, candidate(), ctx) == 0.0
    assert estimate_cost(shot, candidate(cost_per_shot=0.5, cost_per_second=0.01), ctx) == pytest.approx(
        0.5 + 0.01 * shot.units
    )


def test_score_effective_time_adds_remote_penalty_and_money():
    shot = needs()
    ctx = context(speeds=measured(1.0), weights=ScoreWeights(remote_penalty=0.5, seconds_per_cost_unit=100))
    local = score(shot, candidate(), ctx)
    remote = score(shot, candidate(locality=Locality.CLOUD, cost_per_shot=1.0), ctx)
    assert local.effective == pytest.approx(shot.units)
    assert remote.effective == pytest.approx(shot.units * 1.5 + 100)
    assert local.speed_source == "measured"


def test_describe_reads_as_one_sentence():
    shot = needs()
    ctx = context(speeds=measured(0.5), waits={"box": 20.0})
    cand = candidate(vram_free_gb=9.1)
    text = describe(shot, cand, ctx, score(shot, cand, ctx))
    assert text == (
        "draft template for a draft shot, 9.1 GB free fits TI2V 5B at 832x480, 49 frames (needs ~8.0 GB), "
        "about 30 s (20 s waiting for a slot), on this machine"
    )


def test_describe_says_when_speed_is_only_assumed():
    shot = needs()
    cand = candidate(replace(DRAFT, vram_base_gb=0))
    assert "speed assumed" in describe(shot, cand, context(), score(shot, cand, context()))
    assert fit_note(shot, cand) == ""  # no VRAM figure: nothing to say about fit


def test_seconds_text():
    assert [seconds_text(s) for s in (42, 600, 9000)] == ["42 s", "10 min", "2.5 h"]


def test_a_shot_expected_to_take_less_than_a_second_says_so_not_about_0_s():
    shot = needs()
    cand = candidate()
    quick = describe(shot, cand, context(speeds=measured(0.02)), score(shot, cand, context(speeds=measured(0.02))))
    assert "under a second, on this machine" in quick and "about 0 s" not in quick
    assert [about_seconds(s) for s in (0.0, 0.4, 0.5, 0.6, 16)] == [
        "under a second", "under a second", "under a second", "about 1 s", "about 16 s"]  # fmt: skip
