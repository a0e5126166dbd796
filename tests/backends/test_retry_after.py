"""The wait a server asked for, from its Retry-After header or its words."""

import email.utils

import pytest

from shotcaller.backends.retry_after import header_seconds, retry_after, text_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Rate limit reached for requests. Please try again in 20s.", 20),
        ("Please try again in 1m12.5s. Visit https://platform.openai.com/account/rate-limits", 72.5),
        ("Please try again in 450ms.", 0.45),
        ("try again in 250 milliseconds", 0.25),
        ("try again in 2 minutes", 120),
        ("No deployments available for selected model, Try again in 60 seconds. Passed model=x", 60),
        ("try later in 3 secs", 3),
        ("Rate limit reached for requests.", None),
        ("try again in a while", None),
        ("", None),
    ],
)
def test_text_seconds(text, seconds):
    assert text_seconds(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_header_seconds_numbers_dates_and_nonsense():
    assert header_seconds({"Retry-After": "3"}) == 3
    assert header_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert header_seconds({"Retry-After": date}, now=1_000_000) == pytest.approx(30)
    assert header_seconds({"Retry-After": "soon"}) is None
    assert header_seconds({"Retry-After": "-4"}) is None
    assert header_seconds({"Retry-After": "nan"}) is None
    assert header_seconds(None) is None


def test_the_header_wins_over_the_words():
    assert retry_after({"Retry-After": "5"}, "try again in 20s") == 5
    assert retry_after({}, "try again in 20s") == 20
