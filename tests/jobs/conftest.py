from __future__ import annotations

import pytest

from shotcaller.jobs.session import Session


@pytest.fixture
def sessions():
    """Sessions a test appends here are closed after it (their workers and probes stopped)."""
    made: list[Session] = []
    yield made
    for session in made:
        session.close()
