"""Late binding: a queued job is bound to an instance only when that instance can start it now.

Routing at submission would have to guess: a batch of 200 shots submitted at once
would be split before anyone measured which box is fast. Instead, whenever a slot
frees (or a job arrives), pending jobs are routed in order against a *virtual*
slot board: each job takes the candidate that finishes it earliest, counting the
jobs planned before it. A job whose best place is busy reserves a slot there and
waits (later jobs see the reservation); a job whose best place is free starts.
That is earliest-finish-time list scheduling, and it adapts as speeds are measured.
Pending jobs are planned longest first (`longest_first`): a batch whose long finals start last
ends with them running alone on whatever box is left, which is what made a plain shared queue
look as good as the router (see the README's benchmark section for the numbers).
Pure: the scheduler runs it under its lock, the fleet benchmark on a virtual clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..routing.router import Decision
from .limits import UNLIMITED

J = TypeVar("J")


@dataclass
class SlotBoard:
    """One instance's slots, in seconds from now until each is free (a heap), plus its rate limit."""

    free_in: list[float]
    starts_allowed: int = UNLIMITED
    rate_wait: float = 0.0  # once starts_allowed is used up, seconds until the limit allows another

    @classmethod
    def of(
        cls, slots: int, busy: Sequence[float] = (), starts_allowed: int = UNLIMITED, rate_wait: float = 0.0
    ) -> SlotBoard:
        free = [max(0.0, b) for b in busy][: max(1, slots)]
        free += [0.0] * (max(1, slots) - len(free))
        heapq.heapify(free)
        return cls(free, starts_allowed, rate_wait)

    def wait(self) -> float:
        wait = self.free_in[0]
        if self.starts_allowed <= 0:
            wait = max(wait, self.rate_wait)
        return max(0.0, wait)

    def reserve(self, run_seconds: float) -> float:
        """Book the earliest slot for a job of this length; returns its start, in seconds from now."""
        start = self.wait()
        heapq.heapreplace(self.free_in, start + max(0.0, run_seconds))
        if start <= 0:
            self.starts_allowed -= 1
        return start


@dataclass(frozen=True)
class Placement(Generic[J]):
    job: J
    decision: Decision
    start_now: bool  # False: it waits (reserved behind a busy slot, or nothing fits yet)


Route = Callable[[J, Mapping[str, float]], Decision]


def longest_first(
    pending: Sequence[J], expected_seconds: Callable[[J], float], retried: Callable[[J], bool]
) -> list[J]:
    """The planning order: jobs that failed over first (they have waited longest), then the longest
    expected job first (LPT); equal ones keep their submission order."""
    return sorted(pending, key=lambda job: (not retried(job), -expected_seconds(job)))


def plan_dispatch(pending: Sequence[J], boards: dict[str, SlotBoard], route: Route[J]) -> Iterator[Placement[J]]:
    """Route pending jobs in order against the boards. Stops as soon as no instance could start anything."""
    waits = {iid: board.wait() for iid, board in boards.items()}
    for job in pending:
        if all(wait > 0 for wait in waits.values()):
            return
        decision = route(job, waits)
        chosen = decision.chosen
        if chosen is None or chosen.instance_id not in boards:
            yield Placement(job, decision, False)
            continue
        board = boards[chosen.instance_id]
        start = board.reserve(decision.scores[0].run_seconds)
        waits[chosen.instance_id] = board.wait()
        yield Placement(job, decision, start <= 0)
