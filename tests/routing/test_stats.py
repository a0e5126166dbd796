"""Measured speed: a moving average per instance and model, with sensible guesses before measuring."""

import pytest
from routing_helpers import DRAFT, FINAL, spec

from shotcaller.routing.stats import DEFAULT_SECONDS_PER_UNIT, SpeedStats, work_units


def test_work_units_by_media():
    assert work_units(spec()) == pytest.approx(832 * 480 * 49 / 1e6)
    assert work_units(spec(media="image")) == pytest.approx(832 * 480 / 1e6)
    assert work_units(spec(media="audio", frame_count=48, fps=24)) == pytest.approx(2.0)


def test_ema_moves_toward_new_measurements():
    speeds = SpeedStats(alpha=0.5)
    speeds.record("a", "wan5b", 10.0, 10.0)
    speeds.record("a", "wan5b", 30.0, 10.0)
    estimate = speeds.estimate("a", DRAFT)
    assert estimate.seconds_per_unit == pytest.approx(2.0) and estimate.source == "measured"
    assert estimate.samples == 2


def test_unmeasured_model_assumes_a_prior_scaled_by_model_size():
    speeds = SpeedStats()
    assert speeds.estimate("a", DRAFT).seconds_per_unit == pytest.approx(DEFAULT_SECONDS_PER_UNIT)
    assert speeds.estimate("a", FINAL).seconds_per_unit == pytest.approx(DEFAULT_SECONDS_PER_UNIT * 20 / 8)
    assert speeds.estimate("a", DRAFT).source == "assumed"


def test_new_instance_borrows_the_pools_speed_and_a_slow_instance_stays_slow():
    speeds = SpeedStats()
    speeds.record("a", "wan5b", 1.0, 1.0)
    speeds.record("b", "wan5b", 3.0, 1.0)  # b is 3x slower than a
    speeds.record("a", "wan14b", 4.0, 1.0)
    new = speeds.estimate("c", DRAFT)
    assert new.source == "like the other instances" and new.seconds_per_unit == pytest.approx(2.0)
    b_final = speeds.estimate("b", FINAL)  # never ran wan14b: a's figure scaled by b's 3x
    assert b_final.seconds_per_unit == pytest.approx(4.0 * 3.0 / 1.0)


def test_mean_job_seconds_and_snapshot():
    speeds = SpeedStats(alpha=1.0)
    assert speeds.mean_job_seconds("a", default=60.0) == 60.0
    speeds.record("a", "wan5b", 42.0, 10.0)
    assert speeds.mean_job_seconds("a") == 42.0
    assert speeds.snapshot() == {"a": {"wan5b": pytest.approx(4.2)}}


def test_bad_measurements_are_ignored():
    speeds = SpeedStats()
    speeds.record("a", "wan5b", 0.0, 1.0)
    speeds.record("a", "wan5b", 1.0, 0.0)
    assert speeds.estimate("a", DRAFT).source == "assumed"
