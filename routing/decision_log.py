"""The project's decision log: one JSON object per line, one line per routing decision.

Appended by the scheduler's dispatcher thread (never Blender's), read back by
`routing.replay` to ask "what if another strategy had routed these shots".
Standard library only, so the replay tool runs without the rest of Shotcaller.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)


class DecisionLog:
    """Thread-safe appender. A log that cannot be written is reported once and never stops a job."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._warned = False

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                folder = os.path.dirname(self.path)
                if folder:
                    os.makedirs(folder, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as handle:
                    handle.write(line)
            except OSError as exc:
                if not self._warned:
                    log.warning("cannot append to the decision log %s: %s", self.path, exc)
                    self._warned = True


def read_log(path: str) -> Iterator[dict[str, Any]]:
    """Every well-formed record; a torn last line (a crash mid-write) is skipped."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record
