"""Freezing what is alive when the first session starts, so later full collections skip it."""

import gc
import weakref

import pytest

from shotcaller.jobs import collector
from shotcaller.jobs.session import BackendSettings, close_session, get_session


class Node:
    def __init__(self) -> None:
        self.other: object = None


@pytest.fixture
def unfrozen(monkeypatch):
    monkeypatch.setattr(collector, "_frozen", False)


def test_freezes_once_and_later_garbage_is_still_collected(unfrozen):
    assert collector.freeze_long_lived()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    assert not collector.freeze_long_lived()  # once per process: the second call changes nothing
    assert gc.get_freeze_count() == frozen

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle made after the freeze: only the collector can free it
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None


def test_the_first_session_freezes(unfrozen):
    close_session()
    try:
        get_session(BackendSettings(probe_interval_seconds=0))
        assert collector._frozen
    finally:
        close_session()
