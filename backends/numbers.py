"""Numbers a server sends, checked before they are used: finite, of a sane size, never a bool.

JSON allows 1e999 (Python reads it as infinity), and `int(inf)` raises OverflowError: a
progress message must not be able to crash a job with an untyped error.
"""

from __future__ import annotations

import math
from typing import Any

LARGEST = 1e15  # more than any byte count, step count or timestamp a server has reason to send


def finite(value: Any, *, largest: float = LARGEST) -> float | None:
    """The value as a float if it is a real, finite number within +-largest; else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and abs(number) <= largest else None


def whole(value: Any, *, largest: float = LARGEST) -> int | None:
    number = finite(value, largest=largest)
    return None if number is None else int(number)
