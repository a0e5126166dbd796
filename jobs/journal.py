"""The job journal: every job of a project, kept beside its takes, so that nothing is lost or paid twice.

One SQLite file per takes folder (`shotcaller_journal.sqlite`), in WAL mode. A row is written
when a job is submitted, updated the moment the backend knows the server's id for it (a
ComfyUI prompt id, a Wan2GP job id, a LiteLLM video id), and at every state change after that.
Each write is its own committed transaction, so a `kill -9` at any moment leaves either the
old row or the new one, never half of one; WAL lets a second process (the UI and a headless
batch on the same project) read while one writes. The journal never imports bpy.

States, in order: queued (submitted, waiting for an instance), routed (bound to an instance),
sending (the id is ours and on its way: a ComfyUI prompt id; the server may or may not have it),
accepted (the server has it: `server_job_id` is set), fetching (the server finished, its files
are being downloaded), then one of done, failed, cancelled, lost (the server no longer knows
it) or abandoned (Blender died before any server had it: nothing to follow). `segment` is 0
for a whole shot; a shot made in segments records one row per segment.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .wal_checkpoints import JOURNAL_SIZE_LIMIT, BackgroundCheckpoints

log = logging.getLogger(__name__)

JOURNAL_NAME = "shotcaller_journal.sqlite"
UNFINISHED = ("queued", "routed", "sending", "accepted", "fetching")
FINISHED = ("done", "failed", "cancelled", "lost", "abandoned")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    shot_id TEXT NOT NULL,
    segment INTEGER NOT NULL DEFAULT 0,
    request_hash TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL DEFAULT '{}',
    output_dir TEXT NOT NULL DEFAULT '',
    file_stem TEXT NOT NULL DEFAULT '',
    context TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    instance_id TEXT NOT NULL DEFAULT '',
    backend_kind TEXT NOT NULL DEFAULT '',
    offer TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    server_url TEXT NOT NULL DEFAULT '',
    server_job_id TEXT NOT NULL DEFAULT '',
    files TEXT NOT NULL DEFAULT '[]',
    take TEXT NOT NULL DEFAULT '',
    record_path TEXT NOT NULL DEFAULT '',
    cost REAL NOT NULL DEFAULT 0,
    cost_source TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    submitted_at REAL NOT NULL DEFAULT 0,
    started_at REAL NOT NULL DEFAULT 0,
    accepted_at REAL NOT NULL DEFAULT 0,
    finished_at REAL NOT NULL DEFAULT 0,
    run_seconds REAL NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_by_request ON jobs (request_hash, state);
CREATE INDEX IF NOT EXISTS jobs_by_shot ON jobs (shot_id, segment);
"""
_COLUMNS = [
    "job_id",
    "shot_id",
    "segment",
    "request_hash",
    "request",
    "output_dir",
    "file_stem",
    "context",
    "state",
    "attempt",
    "instance_id",
    "backend_kind",
    "offer",
    "model",
    "server_url",
    "server_job_id",
    "files",
    "take",
    "record_path",
    "cost",
    "cost_source",
    "message",
    "submitted_at",
    "started_at",
    "accepted_at",
    "finished_at",
    "run_seconds",
    "updated_at",
]


@dataclass(frozen=True)
class JournalEntry:
    """One row, as plain data."""

    job_id: str
    shot_id: str
    segment: int
    request_hash: str
    request: dict[str, Any]
    output_dir: str
    file_stem: str
    context: dict[str, Any]
    state: str
    attempt: int
    instance_id: str
    backend_kind: str
    offer: str
    model: str
    server_url: str
    server_job_id: str
    files: tuple[str, ...]
    take: dict[str, Any] | None
    record_path: str
    cost: float
    cost_source: str
    message: str
    submitted_at: float
    started_at: float
    accepted_at: float
    finished_at: float
    run_seconds: float
    updated_at: float

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED


_ROWS_PER_STATEMENT = 500  # well under SQLite's limit on bound parameters


class JournalError(RuntimeError):
    """The journal file cannot be opened or written (a read-only folder, a disk that is full)."""


class Journal:
    """A project's journal. Thread-safe: one connection, one lock; every write commits at once.

    Writing must never stop a job: a failed write is logged and the job goes on (the take and its
    `.take.json` record are still written beside the files).
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._lock = threading.Lock()
        self._prices: dict[tuple[str, str], tuple[float, float] | None] = {}  # forgotten at each new cost
        self._total: float | None = None
        self._checkpoints = BackgroundCheckpoints(self.path, hold=self._lock)
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            # isolation_level None: autocommit, so each statement below is one durable transaction.
            self._db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed write survives the process being killed (it is in the
            # OS's hands); only a power cut can lose the last few, and never corrupts the file.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # they run on a thread of their own: wal_checkpoints.py
            self._db.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"the job journal {self.path} cannot be opened: {exc}") from exc

    @classmethod
    def in_folder(cls, folder: str) -> Journal:
        return cls(os.path.join(folder, JOURNAL_NAME))

    def close(self) -> None:
        self._checkpoints.close()
        with self._lock:
            self._db.close()

    # -- writes ------------------------------------------------------------------------------

    def submitted(
        self,
        job_id: str,
        shot_id: str,
        *,
        request: Mapping[str, Any],
        request_hash: str,
        output_dir: str,
        file_stem: str,
        context: Mapping[str, Any] | None = None,
        segment: int = 0,
        submitted_at: float | None = None,
    ) -> None:
        self.submitted_many([dict(
            job_id=job_id, shot_id=shot_id, request=request, request_hash=request_hash, output_dir=output_dir,
            file_stem=file_stem, context=context, segment=segment, submitted_at=submitted_at,
        )])  # fmt: skip

    def submitted_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Rows of newly submitted jobs (the keywords of `submitted`), in one transaction."""
        now = time.time()
        values = [
            (
                row["job_id"],
                row["shot_id"],
                row.get("segment", 0),
                row["request_hash"],
                json.dumps(row["request"], default=str),
                row["output_dir"],
                row["file_stem"],
                json.dumps(dict(row.get("context") or {}), default=str),
                row.get("submitted_at") or now,
                now,
            )
            for row in rows
        ]
        sql = (
            "INSERT OR REPLACE INTO jobs (job_id, shot_id, segment, request_hash, request, output_dir, file_stem,"
            " context, state, submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)"
        )
        if len(values) == 1:
            self._write(sql, values[0])
            return
        try:
            with self._lock:
                self._db.execute("BEGIN")
                try:
                    self._db.executemany(sql, values)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            log.error("the job journal %s could not be written: %s", self.path, exc)
            return
        self._checkpoints.wrote()

    def update(self, job_id: str, **fields: Any) -> None:
        """Set some columns of one row (files and take are given as Python values)."""
        if not fields:
            return
        unknown = set(fields) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"no journal column {sorted(unknown)}")
        values = dict(fields)
        if "files" in values:
            values["files"] = json.dumps(list(values["files"]))
        if "take" in values and not isinstance(values["take"], str):
            values["take"] = json.dumps(values["take"], default=str)
        values["updated_at"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in values)
        self._write(f"UPDATE jobs SET {assignments} WHERE job_id = ?", (*values.values(), job_id))

    def update_many(self, job_ids: Sequence[str], **fields: Any) -> None:
        """Set the same plain columns of many rows, in one statement per few hundred rows: cancelling a
        thousand queued jobs is a few writes, not a thousand (each write waits for the disk and, on
        the main thread, gives the interpreter to any other thread that wants it)."""
        unknown = set(fields) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"no journal column {sorted(unknown)}")
        if not fields or not job_ids:
            return
        values = {**fields, "updated_at": time.time()}
        assignments = ", ".join(f"{name} = ?" for name in values)
        for start in range(0, len(job_ids), _ROWS_PER_STATEMENT):
            chunk = tuple(job_ids[start : start + _ROWS_PER_STATEMENT])
            marks = ", ".join("?" for _ in chunk)
            self._write(f"UPDATE jobs SET {assignments} WHERE job_id IN ({marks})", (*values.values(), *chunk))

    def add_cost(self, job_id: str, cost: float, source: str) -> None:
        """Add what one attempt cost (a failed attempt may cost too); the row keeps the sum."""
        if cost <= 0:
            return
        with self._lock:
            self._prices.clear()
            self._total = None
        self._write(
            "UPDATE jobs SET cost = cost + ?, cost_source = ?, updated_at = ? WHERE job_id = ?",
            (cost, source, time.time(), job_id),
        )

    def _write(self, sql: str, parameters: tuple[Any, ...]) -> None:
        try:
            with self._lock:
                self._db.execute(sql, parameters)
        except sqlite3.Error as exc:
            log.error("the job journal %s could not be written: %s", self.path, exc)
            return
        self._checkpoints.wrote()

    # -- reads -------------------------------------------------------------------------------

    def get(self, job_id: str) -> JournalEntry | None:
        rows = list(self._select("WHERE job_id = ?", (job_id,)))
        return rows[0] if rows else None

    def unfinished(self) -> list[JournalEntry]:
        marks = ", ".join("?" for _ in UNFINISHED)
        return list(self._select(f"WHERE state IN ({marks}) ORDER BY submitted_at", UNFINISHED))

    def done_with_request(self, request_hash: str) -> list[JournalEntry]:
        """Finished jobs made from exactly this request, newest first (the content cache's lookup)."""
        return list(
            self._select("WHERE request_hash = ? AND state = 'done' ORDER BY finished_at DESC", (request_hash,))
        )

    def entries(self) -> list[JournalEntry]:
        return list(self._select("ORDER BY submitted_at", ()))

    def spending(self) -> dict[str, float]:
        """Money spent per backend kind, over every session that wrote this journal."""
        with self._lock:
            rows = self._db.execute(
                "SELECT backend_kind, SUM(cost) FROM jobs WHERE cost > 0 GROUP BY backend_kind"
            ).fetchall()
        return {str(kind or "?"): float(total or 0.0) for kind, total in rows}

    def total_spent(self) -> float:
        """Kept in memory between costs: routing asks for it at every decision."""
        with self._lock:
            total = self._total
        if total is None:
            total = sum(self.spending().values())
            with self._lock:
                self._total = total
        return total

    def last_price(self, backend_kind: str, offer: str) -> tuple[float, float] | None:
        """(cost, seconds of the shot) of the newest job of this backend kind and offer whose service
        reported its cost: what the next such shot is expected to cost. None: never reported."""
        key = (backend_kind, offer)
        with self._lock:
            if key in self._prices:
                return self._prices[key]
            row = self._db.execute(
                "SELECT cost, request FROM jobs WHERE backend_kind = ? AND offer = ? AND cost > 0"
                " AND cost_source LIKE 'reported%' ORDER BY updated_at DESC LIMIT 1",
                key,
            ).fetchone()
        price = None
        if row is not None:
            request = _json_dict(row[1])
            try:
                seconds = float(request.get("frame_count", 1)) / float(request.get("fps", 24.0))
            except (TypeError, ValueError, ZeroDivisionError):
                seconds = 0.0
            price = (float(row[0]), seconds)
        with self._lock:
            self._prices[key] = price
        return price

    def _select(self, where: str, parameters: tuple[Any, ...]) -> Iterator[JournalEntry]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs {where}", parameters).fetchall()
        for row in rows:
            values = dict(zip(_COLUMNS, row, strict=True))
            values["request"] = _json_dict(values["request"])
            values["context"] = _json_dict(values["context"])
            values["files"] = tuple(str(f) for f in _json_list(values["files"]))
            values["take"] = _json_dict(values["take"]) if values["take"] else None
            yield JournalEntry(**values)


def _json_dict(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_list(text: str) -> list[Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


_open_lock = threading.Lock()
_open: dict[str, Journal] = {}


def journal_at(folder: str) -> Journal:
    """One Journal per takes folder in this process, so every job of a project shares its lock."""
    path = os.path.abspath(os.path.join(folder, JOURNAL_NAME))
    with _open_lock:
        journal = _open.get(path)
        if journal is None:
            journal = _open[path] = Journal(path)
        return journal
