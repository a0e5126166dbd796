"""The retry rules on their own: how long a busy instance is left alone, how often, and the final words."""

from shotcaller.backends.base import BackendBusy, OutOfMemory
from shotcaller.backends.litellm.errors import ProxyLimited
from shotcaller.jobs.attempts import JobState
from shotcaller.jobs.retries import BUSY_TRIES, LONGEST_WAIT, distinct, final_hint, final_message, remember_busy
from shotcaller.routing.candidates import ANY_OFFER
from shotcaller.routing.policy import RoutingPolicy
from shotcaller.shots import make_spec


def job() -> JobState:
    spec = make_spec(shot_id="shot0001aaaa", label="S", prompt="p", media="image", width=64, height=64)
    return JobState("j", spec, "/tmp", "s", RoutingPolicy(), busy_backoff=2.0)


def busy(wait=None, *, here=True, cls=BackendBusy) -> BackendBusy:
    error = cls("rate limited")
    error.retry_after, error.retry_here = wait, here
    return error


def test_the_wait_asked_for_is_honoured_and_a_few_tries_end_it():
    state = job()
    for _ in range(BUSY_TRIES - 1):
        remember_busy(state, "a", busy(3), now=100.0)
        assert state.excluded[("a", ANY_OFFER)].until == 103.0
    remember_busy(state, "a", busy(3), now=100.0)
    assert state.excluded[("a", ANY_OFFER)].until is None  # not again for this job
    assert state.busy_backoff == 2.0  # the provider's wait replaced the doubling pause


def test_without_a_wait_the_pause_doubles():
    state = job()
    remember_busy(state, "a", busy(), now=0.0)
    remember_busy(state, "a", busy(), now=0.0)
    assert state.excluded[("a", ANY_OFFER)].until == 4.0 and state.busy_backoff == 8.0


def test_a_server_that_retried_itself_or_asks_too_long_is_not_asked_again():
    state = job()
    remember_busy(state, "a", busy(1, here=False), now=0.0)
    remember_busy(state, "b", busy(LONGEST_WAIT + 1), now=0.0)
    assert state.excluded[("a", ANY_OFFER)].until is None and state.excluded[("b", ANY_OFFER)].until is None


def test_the_final_message_names_each_cause_once_and_says_what_happens_next():
    state = job()
    state.attempts = ["cloud on proxy (rate limited)"] * 3
    state.dispatches = 3
    assert distinct(state.attempts) == "cloud on proxy (rate limited), 3 times"
    assert (
        final_message(state, busy(), "litellm 'proxy'", 5)
        == "failed after 3 attempts: cloud on proxy (rate limited), 3 times"
    )
    assert final_message(state, busy(), "x", 3).startswith("gave up after 3 attempts: ")
    assert final_hint(busy(20)) == (
        "Nothing more will be tried for this shot: generate it again in 20 s or later, or route it to another backend."
    )
    limited = busy(60, cls=ProxyLimited)
    limited.hint = "Raise the model's rpm."
    assert final_hint(limited).endswith("in 60 s or later, or route it to another backend. Raise the model's rpm.")
    assert final_hint(OutOfMemory("oom", hint="Lower the resolution.")) == "Lower the resolution."
