"""The content cache: a request identical to one already made gets the take that request made.

The key is a hash of everything that decides the output (media, quality, prompt, negative
prompt, seed, size, frame rate and count, backend pin, and the bytes of the init image, not its
path), never of the shot's id or name. A finished job in the project's journal with that key is
reused when the way it was made is still on offer: the same backend kind, template or model
name, and model (a template whose model changed is a miss). Its files must all still exist and
be non-empty: a cached file someone deleted is a miss, never an error. Redo and Regenerate
pass `bypass_cache` and always generate.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable

from ..shots import ShotSpec, Take
from .journal import Journal, JournalEntry

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when what goes into the key changes, so old entries stop matching
_HASHED_FIELDS = (
    "media",
    "quality",
    "prompt",
    "negative_prompt",
    "seed",
    "width",
    "height",
    "fps",
    "frame_count",
    "backend_pin",
)


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def request_hash(spec: ShotSpec) -> str:
    """The content key of a shot's request (see the module docstring for what goes in)."""
    fields = spec.model_dump(mode="json", include=set(_HASHED_FIELDS))
    if spec.init_image:
        try:
            fields["init_image"] = file_digest(spec.init_image)
        except OSError:
            fields["init_image"] = f"unreadable:{spec.init_image}"  # never equal to a real digest
    fields["cache_version"] = CACHE_VERSION
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


Offered = set[tuple[str, str, str]]  # (backend kind, offer name, model) the fleet offers now


def find(journal: Journal, key: str, offered: Iterable[tuple[str, str, str]]) -> JournalEntry | None:
    """The newest finished job for this key that can stand in for a new one, or None (a miss)."""
    available = set(offered)
    for entry in journal.done_with_request(key):
        if (entry.backend_kind, entry.offer, entry.model) not in available or entry.take is None:
            continue
        if entry.files and all(_usable(path) for path in entry.files):
            return entry
        log.info("cache: the files of job %s are gone; generating again", entry.job_id[:8])
    return None


def cached_take(entry: JournalEntry, spec: ShotSpec) -> Take:
    """A new take of `spec` showing the cached job's files; it records where they came from and costs 0."""
    made = datetime.datetime.fromtimestamp(entry.finished_at or time.time()).isoformat(timespec="seconds")
    original = dict(entry.take or {})
    reason = (
        f"Identical to the request made {made} on {entry.backend_kind} '{entry.instance_id}' with"
        f" {entry.offer}: its take was reused, nothing was generated."
    )
    now = time.time()
    return Take(
        shot_id=spec.shot_id,
        media=spec.media,
        files=entry.files,
        backend_kind=entry.backend_kind,
        backend_instance=entry.instance_id,
        template=entry.offer,
        model=str(original.get("model") or entry.model),
        parameters={**dict(original.get("parameters") or {}), "cached_from_job": entry.job_id},
        seed=spec.seed,
        quality=spec.quality,
        routing_reason=reason,
        server_job_id=entry.server_job_id,
        submitted_at=now,
        started_at=now,
        finished_at=now,
        cost=0.0,
        cost_source="cache",
    )


def _usable(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False
