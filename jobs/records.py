"""A finished job's take, and its provenance record beside its files (survives a deleted strip or a lost .blend)."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from ..backends.base import BackendError, GenerationResult
from ..backends.files import write_atomically
from ..routing.candidates import Candidate
from ..routing.decision_log import decision_record
from ..routing.router import Decision
from ..shots import ShotSpec, Take
from .attempts import JobState

log = logging.getLogger(__name__)


def make_take(
    spec: ShotSpec,
    candidate: Candidate,
    result: GenerationResult,
    reason: str,
    submitted_at: float,
    started_at: float,
) -> Take:
    """The take as it was made: the settings it ran with (stepped down or not), where, and why there."""
    return Take(
        shot_id=spec.shot_id,
        media=spec.media,
        files=result.files,
        backend_kind=candidate.backend.kind,
        backend_instance=candidate.instance_id,
        template=candidate.offer.name,
        model=result.model or candidate.offer.model,
        parameters=result.parameters,
        seed=spec.seed,
        quality=spec.quality,
        routing_reason=reason,
        server_job_id=result.server_job_id,
        submitted_at=submitted_at,
        started_at=started_at,
        finished_at=time.time(),
    )


def write_take_record(
    output_dir: str,
    file_stem: str,
    take: Take,
    spec: ShotSpec,
    reason: str,
    decision: Decision,
    routing: dict[str, Any],
) -> str:
    """Write `<file_stem>.take.json`; returns its path, or "" if it could not be written (logged)."""
    path = os.path.join(output_dir, f"{file_stem}.take.json")
    record = {
        "take": json.loads(take.model_dump_json()),
        "shot": json.loads(spec.model_dump_json()),
        "decision": reason,
        "candidates": [
            {"candidate": v.candidate.label, "accepted": v.accepted, "reason": v.reason} for v in decision.verdicts
        ],
        "routing": routing,
    }
    try:
        write_atomically([json.dumps(record, indent=2, default=str).encode()], path)
    except BackendError:
        log.exception("could not write the take record %s", path)
        return ""
    return path


def log_record(job: JobState, decision: Decision, event: str, explanation: str) -> dict[str, Any]:
    """One decision-log line: the decision's own record plus the job's attempt and what changed."""
    return {
        "time": time.time(),
        "event": event,
        "job_id": job.job_id,
        "attempt": job.dispatches,
        "submitted_at": job.submitted_at,
        "strategy": "best",
        "adjustments": job.adjustments[:],
        **decision_record(decision),  # compact: the full candidate list is in the take's record
        "explanation": explanation,
    }
