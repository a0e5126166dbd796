"""Low-level Wan2GP client: the Wan2GP tools (models, jobs) over MCP, plus the gallery's transfers.

Stdlib urllib only (it ships with Blender); no MCP SDK. The layers:
    mcp.py      MCPSession: the JSON-RPC session (handshake, session id, redirects) and `tools/call`;
                how it meets the real server is told there
    mcp_answers.py  reading its answers: JSON-RPC messages from JSON or SSE, tool results unwrapped
    gallery.py  GalleryTransfers: upload into and download from the gallery by one-time URLs
    client.py   Wan2GPClient: the model and job tools (wangp_list_models, wangp_generate, ...)

Every failure leaves as one of the typed errors of backends/base.py, never as a raw urllib error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..base import ProtocolError
from ..http import snippet
from ..numbers import finite
from .errors import IS_IT_WAN2GP
from .gallery import DownloadedFile, GalleryTransfers
from .mcp import (
    ACCEPT,
    CLIENT_INFO,
    DEFAULT_URL,
    KNOWN_PROTOCOL_VERSIONS,
    PROTOCOL_VERSION,
    MCPSession,
    ServerInfo,
    mcp_endpoint,
)
from .mcp_answers import LIST_TOOLS, OPTIONAL_TOOLS, WRAPPED_TOOLS

__all__ = [
    "ACCEPT",
    "CLIENT_INFO",
    "DEFAULT_URL",
    "KNOWN_PROTOCOL_VERSIONS",
    "LIST_TOOLS",
    "OPTIONAL_TOOLS",
    "PROTOCOL_VERSION",
    "WRAPPED_TOOLS",
    "DownloadedFile",
    "JobEvent",
    "JobSnapshot",
    "MCPSession",
    "ServerInfo",
    "Wan2GPClient",
    "mcp_endpoint",
]


@dataclass(frozen=True)
class JobEvent:
    kind: str
    timestamp: float
    data: Any


@dataclass(frozen=True)
class JobSnapshot:
    """One answer of wangp_generate / wangp_get_job / wangp_cancel_job."""

    job_id: str
    done: bool
    cancel_requested: bool
    events: tuple[JobEvent, ...]
    result: dict[str, Any] | None
    raw: dict[str, Any]

    @classmethod
    def parse(cls, value: Any, url: str, tool: str) -> JobSnapshot:
        if not isinstance(value, dict) or not isinstance(value.get("job_id"), str) or not value["job_id"]:
            raise ProtocolError(
                f"Wan2GP at {url} answered {tool} without a job: {snippet(str(value))}", hint=IS_IT_WAN2GP
            )
        done = value.get("done")
        if not isinstance(done, bool):
            raise ProtocolError(f"Wan2GP at {url} answered {tool} with a job that is neither done nor running")
        result = value.get("result")
        if result is not None and not isinstance(result, dict):
            raise ProtocolError(f"Wan2GP at {url} answered {tool} with a malformed result: {snippet(str(result))}")
        events: list[JobEvent] = []
        for item in value.get("events") or []:
            if isinstance(item, dict) and isinstance(item.get("kind"), str):
                events.append(JobEvent(item["kind"], finite(item.get("timestamp")) or 0.0, item.get("data")))
        return cls(value["job_id"], done, bool(value.get("cancel_requested")), tuple(events), result, value)


class Wan2GPClient(GalleryTransfers):
    """Talks to one Wan2GP MCP server. Thread-safe: requests are independent HTTP exchanges."""

    def list_models(self, **filters: Any) -> list[dict[str, Any]]:
        """One page of compact model records (the server caps `limit` at 10; page with `offset`)."""
        value = self.call_tool("wangp_list_models", filters)
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

    def iter_models(self, page_size: int = 10, max_pages: int = 100, **filters: Any) -> Iterator[dict[str, Any]]:
        for page in range(max_pages):
            records = self.list_models(limit=page_size, offset=page * page_size, **filters)
            yield from records
            if len(records) < page_size:
                return

    def get_model_schema(self, model_type: str) -> dict[str, Any] | None:
        """The compact schema's `metadata` (fps, frames_minimum, ...), or None for an unknown model."""
        value = self.call_tool("wangp_get_model_schema", {"model_type": model_type})
        if value is None:
            return None
        metadata = value.get("metadata") if isinstance(value, dict) else None
        if not isinstance(metadata, dict):
            raise ProtocolError(f"Wan2GP at {self.endpoint} sent a schema for {model_type} without metadata")
        return metadata

    def get_default_settings(self, model_type: str) -> dict[str, Any]:
        value = self.call_tool("wangp_get_default_settings", {"model_type": model_type})
        if not isinstance(value, dict):
            raise ProtocolError(f"Wan2GP at {self.endpoint} sent no default settings for {model_type}")
        return value

    def get_model_availability(self, model_type: str) -> dict[str, Any]:
        value = self.call_tool("wangp_get_model_availability", {"model_type": model_type})
        return value if isinstance(value, dict) else {}

    def generate(self, source: Mapping[str, Any], *, event_limit: int | None = None) -> JobSnapshot:
        """Start a job (wait false) and return its first snapshot. A busy server raises BackendBusy."""
        arguments: dict[str, Any] = {"source": dict(source), "wait": False}
        if event_limit is not None:
            arguments["event_limit"] = event_limit
        return JobSnapshot.parse(self.call_tool("wangp_generate", arguments), self.origin, "wangp_generate")

    def get_job(self, job_id: str, *, event_limit: int | None = None) -> JobSnapshot:
        arguments: dict[str, Any] = {"job_id": job_id}
        if event_limit is not None:
            arguments["event_limit"] = event_limit
        return JobSnapshot.parse(self.call_tool("wangp_get_job", arguments), self.origin, "wangp_get_job")

    def cancel_job(self, job_id: str, *, event_limit: int | None = None) -> JobSnapshot:
        arguments: dict[str, Any] = {"job_id": job_id}
        if event_limit is not None:
            arguments["event_limit"] = event_limit
        return JobSnapshot.parse(self.call_tool("wangp_cancel_job", arguments), self.origin, "wangp_cancel_job")
