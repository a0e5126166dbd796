"""The circuit breaker per instance: closed, open after N failures (or one decisive one), half-open, closed."""

from shotcaller.routing.health import BreakerState, CircuitBreakers


def breakers(threshold=3, cooldown=30.0):
    now = [0.0]
    return CircuitBreakers(threshold, cooldown, clock=lambda: now[0]), now


def test_opens_after_n_consecutive_failures():
    health, _ = breakers(threshold=3)
    health.record_failure("a", "protocol error")
    health.record_failure("a", "protocol error")
    assert health.state("a") is BreakerState.CLOSED and health.unavailable_reason("a") is None
    health.record_failure("a", "protocol error")
    assert health.state("a") is BreakerState.OPEN
    assert health.unavailable_reason("a") == "protocol error; next try in 30 s"


def test_a_success_resets_the_count():
    health, _ = breakers(threshold=2)
    health.record_failure("a", "x")
    health.record_success("a")
    health.record_failure("a", "x")
    assert health.state("a") is BreakerState.CLOSED


def test_decisive_failure_opens_at_once():
    health, _ = breakers(threshold=5)
    health.record_failure("a", "unreachable", decisive=True)
    assert health.state("a") is BreakerState.OPEN


def test_half_open_lets_exactly_one_probe_through():
    health, now = breakers()
    health.record_failure("a", "unreachable", decisive=True)
    assert not health.claim_probe("a")  # still cooling down
    now[0] = 30.0
    assert health.state("a") is BreakerState.HALF_OPEN
    assert health.unavailable_reason("a") is None
    assert health.claim_probe("a")
    assert not health.claim_probe("a")
    assert health.unavailable_reason("a") == "one job is testing whether it is back"


def test_probe_success_closes_probe_failure_reopens_for_another_cooldown():
    health, now = breakers()
    health.record_failure("a", "unreachable", decisive=True)
    now[0] = 30.0
    assert health.claim_probe("a")
    health.record_failure("a", "still unreachable")  # any failure while half-open reopens it
    assert health.state("a") is BreakerState.OPEN
    assert health.status("a").retry_in == 30.0
    now[0] = 60.0
    assert health.claim_probe("a")
    health.record_success("a")
    assert health.state("a") is BreakerState.CLOSED and health.claim_probe("a")


def test_released_probe_can_be_claimed_again():
    health, now = breakers()
    health.record_failure("a", "x", decisive=True)
    now[0] = 31.0
    assert health.claim_probe("a")
    health.release_probe("a")
    assert health.claim_probe("a")


def test_discovery_probe_success_closes_only_after_the_cooldown():
    health, now = breakers()
    health.record_failure("a", "unreachable", decisive=True)
    health.record_probe_success("a")
    assert health.state("a") is BreakerState.OPEN  # a cooldown is never cut short
    now[0] = 31.0
    health.record_probe_success("a")
    assert health.state("a") is BreakerState.CLOSED


def test_instances_are_independent():
    health, _ = breakers(threshold=1)
    health.record_failure("a", "x")
    assert health.state("b") is BreakerState.CLOSED and health.claim_probe("b")
