"""The transport policy one server's client works under: where it may go and how much it may take.

Every client (ComfyUI, Wan2GP, LiteLLM) sends every request through backends/exchange.py under
one of these. The defaults are safe: loopback only, redirects within the same origin, answers of
a few MiB, inline base64 images up to 64 MiB, downloads up to 4 GiB, a job of at most 4 hours
(a long final video on a slow GPU).
Per server they come from the server's entry in the preferences (`from_options`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .credentials import NO_CREDENTIALS, Credentials

MIB = 1024 * 1024

DEFAULT_ANSWER_MB = 8  # JSON and text answers, event-stream lines
DEFAULT_DOWNLOAD_MB = 4096  # downloaded files and base64 payloads
DEFAULT_JOB_MINUTES = 240.0
DEFAULT_DOWNLOAD_MINUTES = 60.0
BASE64_FACTOR = 8  # an inline base64 image may be this many times the answer limit

WHERE_TO_RAISE = "Preferences > Add-ons > Shotcaller > the server's entry"


class InvalidLimit(ValueError):
    """A limit that cannot work (zero, negative, not a number), refused where it is set."""


@dataclass(frozen=True)
class TransportPolicy:
    online_access: bool = False  # Blender's switch: without it only loopback addresses
    answer_bytes: int = DEFAULT_ANSWER_MB * MIB  # one JSON or text answer, one event-stream line
    download_bytes: int = DEFAULT_DOWNLOAD_MB * MIB  # one downloaded file, one base64 payload
    download_seconds: float = DEFAULT_DOWNLOAD_MINUTES * 60  # one whole download, start to end
    job_seconds: float = DEFAULT_JOB_MINUTES * 60  # one job on the server, submitted to done
    cross_origin_redirects: bool = False  # if True, followed without credentials or custom headers
    # The server's credentials: exchange.py adds them on every hop to that server's own origin, no other.
    credentials: Credentials = NO_CREDENTIALS

    def __post_init__(self) -> None:
        for name in ("answer_bytes", "download_bytes", "download_seconds", "job_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise InvalidLimit(f"the transport limit {name} must be a positive number, not {value!r}")

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], *, online_access: bool, credentials: Credentials = NO_CREDENTIALS
    ) -> TransportPolicy:
        """From a server entry's options: max_answer_mb, max_download_mb, job_minutes (absent or 0: default)."""
        fields: dict[str, Any] = {"online_access": online_access, "credentials": credentials}
        for option, name, scale in (
            ("max_answer_mb", "answer_bytes", MIB),
            ("max_download_mb", "download_bytes", MIB),
            ("job_minutes", "job_seconds", 60),
        ):
            value = options.get(option)
            if value in (None, "", 0):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InvalidLimit(f"{option} must be a number, not {value!r}") from None
            if not math.isfinite(number) or number <= 0:
                raise InvalidLimit(f"{option} must be positive, not {value!r}; set it in {WHERE_TO_RAISE}")
            fields[name] = int(number * scale) if scale == MIB else number * scale
        return cls(**fields)

    @property
    def base64_bytes(self) -> int:
        """The longest base64 text of one inline payload (an image in a JSON answer): BASE64_FACTOR
        times the answer limit, 64 MiB by default, raised with Max answer."""
        return BASE64_FACTOR * self.answer_bytes

    def answer_limit_text(self) -> str:
        return f"{describe_bytes(self.answer_bytes)} (Max answer, in {WHERE_TO_RAISE})"

    def download_limit_text(self) -> str:
        return f"{describe_bytes(self.download_bytes)} (Max download, in {WHERE_TO_RAISE})"


def describe_bytes(count: int) -> str:
    if count >= 1024 * MIB and count % (1024 * MIB) == 0:
        return f"{count // (1024 * MIB)} GiB"
    if count >= MIB:
        return f"{count / MIB:.0f} MiB"
    return f"{count} bytes"


DEFAULT_POLICY = TransportPolicy()
