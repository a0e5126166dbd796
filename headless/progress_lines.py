"""Which progress events the headless batch prints.

A server reports far more than a person reading a batch's log wants: ComfyUI says each node twice (when
it starts and when the next one does), Wan2GP repeats its phase at every poll, and every sampler step is
an event. A line is printed when a job's progress says something new; a run of messages that differ
only in a count (sampler steps "step 3/20", "retry 2/5") is thinned to one line per tenth of the job,
and its last step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STEP_SPACING = 0.1  # of the whole job, between two printed lines of the same counting message
_NUMBERS = re.compile(r"\d+")
_COUNT = re.compile(r"(\d+)\s*/\s*(\d+)")


@dataclass
class _Printed:
    message: str
    shape: str
    fraction: float


class ProgressLines:
    def __init__(self) -> None:
        self._last: dict[str, _Printed] = {}

    def wanted(self, job_id: str, fraction: float, message: str) -> bool:
        """Whether this progress event of `job_id` is worth a line; remembers it if it is."""
        shape = _NUMBERS.sub("#", message)
        last = self._last.get(job_id)
        if last is not None:
            if message == last.message:
                return False
            counting = shape == last.shape and _COUNT.search(message) is not None
            if counting and fraction - last.fraction < STEP_SPACING and not _is_last_count(message):
                return False
        self._last[job_id] = _Printed(message, shape, fraction)
        return True

    def forget(self, job_id: str) -> None:
        self._last.pop(job_id, None)


def _is_last_count(message: str) -> bool:
    counts = _COUNT.findall(message)
    return bool(counts) and counts[-1][0] == counts[-1][1]
