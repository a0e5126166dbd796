"""The headless run's JSON report: one entry per shot, with its real run time."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import bpy

from ..backends.files import write_atomically


@dataclasses.dataclass
class ShotReport:
    name: str
    shot_id: str = ""
    job_id: str = ""
    status: str = "not submitted"
    backend: str = ""
    template: str = ""
    reason: str = ""
    take_files: list[str] = dataclasses.field(default_factory=list)
    record: str = ""
    timeline: str = ""
    error: str = ""
    submitted_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    seconds: float = 0.0


def write_report(path: str, scene: Any, quality: str, reports: dict[str, ShotReport]) -> None:
    document = {
        "blend": bpy.data.filepath,
        "scene": scene.name,
        "quality": quality,
        "blender": bpy.app.version_string,
        "shots": [dataclasses.asdict(r) for r in reports.values()],
    }
    write_atomically([json.dumps(document, indent=2).encode()], os.path.abspath(path))
    print(f"shotcaller: report written to {os.path.abspath(path)}", flush=True)
