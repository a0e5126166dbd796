"""The project's decision log: one JSON object per line, one line per routing decision.

Appended by the scheduler's dispatcher thread (never Blender's), read back by
`routing.replay` to ask "what if another strategy had routed these shots".
Standard library only, so the replay tool runs without the rest of Shotcaller.

A line is compact (`decision_record`): the shot, the choice and its sentence, the options
the router ranked first (the ones a replay can choose between) as rows of numbers, and the
rejections grouped by filter, each group with one example reason. Every candidate's own
sentence is kept only in the take's record beside its files, where a person looks for it.
At 50 candidates a line is under 2 KB. The log rotates: past `max_bytes` it becomes
`<path>.1` (the older ones move up to `<path>.<keep>`, the oldest is dropped), and
`read_log` reads the rotated files first, oldest first, so the history reads in order.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .router import Decision

log = logging.getLogger(__name__)

MAX_BYTES = 8 * 1024 * 1024
KEEP = 3  # rotated files kept: with MAX_BYTES, at most 32 MB, the last 19,000 decisions or so
OPTION_COLUMNS = ("instance", "offer", "slots", "run_seconds", "wait_seconds", "cost")
# Rejections that only say a template has the wrong shape for the shot are counted, not listed:
# which instances lacked an image template says nothing about the routing.
_COUNTED_ONLY = frozenset({"media", "init_image"})


def decision_record(decision: Decision) -> dict[str, Any]:
    """Plain JSON data for one log line (`Decision.to_record` is the full one, for take records)."""
    shot = decision.shot
    spec = shot.spec if shot else None
    chosen = decision.chosen
    record: dict[str, Any] = {
        "shot_id": decision.shot_id,
        "label": spec.label if spec else "",
        "media": spec.media.value if spec else "",
        "quality": spec.quality.value if spec else "",
        "width": spec.width if spec else 0,
        "height": spec.height if spec else 0,
        "frames": shot.frames if shot else 0,
        "units": round(shot.units, 4) if shot else 0,
        "chosen": None if chosen is None else {"instance": chosen.instance_id, "offer": chosen.offer.name},
        "explanation": decision.explanation,
        "retry_in": decision.retry_in,
    }
    if decision.scores:
        top = decision.scores[0]
        options, others = [], 0
        for candidate, scored in zip(decision.ranked, decision.scores, strict=True):
            if (scored.tier, scored.quality) != (top.tier, top.quality):
                others += 1  # ranked below every top-tier option: a replay never picks it
                continue
            options.append(
                [
                    candidate.instance_id,
                    candidate.offer.name,
                    candidate.instance.slots,
                    round(scored.run_seconds, 2),
                    round(scored.wait_seconds, 2),
                    round(scored.cost, 4),
                ]
            )
        record.update(option_tier=top.tier, option_quality=top.quality, options=options, other_options=others)
    rejected: dict[str, dict[str, Any]] = {}
    for verdict in decision.verdicts:
        if verdict.accepted:
            continue
        group = rejected.get(verdict.filter)
        if group is None:
            group = rejected[verdict.filter] = {"reason": verdict.reason, "count": 0}
        group["count"] += 1
        if verdict.filter not in _COUNTED_ONLY:
            group.setdefault("where", []).append(f"{verdict.candidate.instance_id}/{verdict.candidate.offer.name}")
    record["rejected"] = rejected
    return record


class DecisionLog:
    """Thread-safe appender. A log that cannot be written is reported once and never stops a job."""

    def __init__(self, path: str, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = max(0, keep)
        self._lock = threading.Lock()
        self._warned = False
        self._size: int | None = None  # bytes in the current file, once known

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            try:
                if self._size is None:
                    folder = os.path.dirname(self.path)
                    if folder:
                        os.makedirs(folder, exist_ok=True)
                    self._size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
                if self._size and self._size + len(line) > self.max_bytes:
                    self._rotate()
                with open(self.path, "ab") as handle:
                    handle.write(line)
                self._size += len(line)
            except OSError as exc:
                self._size = None
                if not self._warned:
                    log.warning("cannot append to the decision log %s: %s", self.path, exc)
                    self._warned = True

    def _rotate(self) -> None:
        if self.keep == 0:
            os.remove(self.path)
        else:
            oldest = f"{self.path}.{self.keep}"
            if os.path.exists(oldest):
                os.remove(oldest)
            for n in range(self.keep - 1, 0, -1):
                if os.path.exists(f"{self.path}.{n}"):
                    os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
            os.replace(self.path, f"{self.path}.1")
        self._size = 0


def log_files(path: str) -> list[str]:
    """The log's files, oldest first: the rotated ones (highest number first), then the current one."""
    rotated = []
    n = 1
    while os.path.exists(f"{path}.{n}"):
        rotated.append(f"{path}.{n}")
        n += 1
    return [*reversed(rotated), *([path] if os.path.exists(path) else [])]


def read_log(path: str) -> Iterator[dict[str, Any]]:
    """Every well-formed record, oldest first across rotations; a torn line (a crash mid-write) is skipped."""
    files = log_files(path)
    if not files:
        raise FileNotFoundError(f"no decision log at {path}")
    for name in files:
        with open(name, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    yield record
