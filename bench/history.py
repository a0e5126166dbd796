"""The decision log at scale: 100,000 decisions at 50 candidates through the real DecisionLog.

Reports the bytes per decision against the full record (`Decision.to_record`, what a line used
to hold), what the rotation keeps on disk after all of them, and how long reading that history
back takes against a same-run control that only reads the same files' lines without parsing.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass

from shotcaller.routing.decision_log import DecisionLog, log_files, read_log

from .latency import router_and_shots, whole_decision


@dataclass(frozen=True)
class HistoryResult:
    decisions: int
    line_bytes: float  # mean bytes per decision, as written
    full_record_bytes: float  # the same decisions as full records
    files: int
    bytes_on_disk: int
    records_kept: int
    append_ms: float  # mean per decision, JSON included
    read_seconds: float  # read_log over everything kept
    raw_read_seconds: float  # control: the same files, lines only


def measure(decisions: int = 100_000) -> HistoryResult:
    router, views, waits, specs = router_and_shots()
    lines = [json.loads(whole_decision(router, spec, views, waits)) for spec in specs]
    full = [router.route(spec, views, waits=waits).to_record() for spec in specs]
    full_bytes = sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in full) / len(full)
    with tempfile.TemporaryDirectory(prefix="shotcaller-history-") as folder:
        path = os.path.join(folder, "shotcaller_decisions.jsonl")
        decision_log = DecisionLog(path)
        written = 0
        start = time.perf_counter()
        for i in range(decisions):
            record = dict(lines[i % len(lines)], job_id=f"job{i:09d}", time=1_700_000_000.0 + i)
            decision_log.append(record)
            written += len(json.dumps(record, separators=(",", ":"))) + 1
        append_seconds = time.perf_counter() - start
        files = log_files(path)
        on_disk = sum(os.path.getsize(name) for name in files)
        start = time.perf_counter()
        kept = sum(1 for _ in read_log(path))
        read_seconds = time.perf_counter() - start
        start = time.perf_counter()
        for name in files:
            with open(name, encoding="utf-8") as handle:
                for _ in handle:
                    pass
        raw_seconds = time.perf_counter() - start
    return HistoryResult(
        decisions,
        written / decisions,
        full_bytes,
        len(files),
        on_disk,
        kept,
        append_seconds / decisions * 1000,
        read_seconds,
        raw_seconds,
    )
