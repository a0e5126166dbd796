"""How long a server or provider asked us to wait: the Retry-After header, or its words.

Providers say it in the header (`Retry-After: 3`, or an HTTP date) or only in the message:
OpenAI's "Please try again in 20s" / "in 1m30s" / "in 450ms", LiteLLM's own "Try again in 60
seconds". A LiteLLM proxy does not pass the provider's header on, so the words matter as much.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping

_IN = re.compile(
    r"try (?:again|later) in\s+(?:(?P<minutes>\d+(?:\.\d+)?)\s*m(?!s|illi)(?:in(?:ute)?s?)?\s*)?"
    r"(?:(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>ms|milliseconds?|s|secs?|seconds?)\b)?",
    re.IGNORECASE,
)


def header_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After (or retry-after-ms) header, None when absent or unreadable."""
    if not headers:
        return None
    lowered = {str(name).lower(): str(value) for name, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        seconds = _number(millis)
        if seconds is not None:
            return seconds / 1000
    value = lowered.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def text_seconds(text: str) -> float | None:
    """Seconds from "try again in 3s", "in 1m12.5s", "in 450ms", "in 60 seconds"; None when it says none."""
    for match in _IN.finditer(text or ""):
        minutes, amount, unit = match.group("minutes"), match.group("amount"), (match.group("unit") or "").lower()
        if minutes is None and amount is None:
            continue
        seconds = float(minutes or 0) * 60
        if amount is not None:
            seconds += float(amount) / 1000 if unit.startswith("m") else float(amount)
        if math.isfinite(seconds):
            return seconds
    return None


def retry_after(headers: Mapping[str, str] | None, text: str) -> float | None:
    """The header's wait if it gave one, else the one the message states."""
    from_header = header_seconds(headers)
    return from_header if from_header is not None else text_seconds(text)


def _number(value: str) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
