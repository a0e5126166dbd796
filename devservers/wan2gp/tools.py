"""The 22 tools of Wan2GP's MCP server, answering like the captured ones.

Each method takes the validated arguments and returns the tool's value (a dict, a list, or None);
`ToolError`, `KeyError` and `ValueError` become "Error executing tool <name>: <message>" (a
KeyError keeps Python's quotes, as the real server's do). Post-processing and the toolbox only
answer their discovery call here; running them is not simulated.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from .catalogue import FILTER_KEYS, Catalogue, load_surface
from .gallery import MAX_UPLOAD_BYTES, TOKEN_SECONDS, Gallery, media_type_of
from .jobs import Jobs, ToolError

DEFAULT_EVENT_LIMIT = 20


class Tools:
    def __init__(self, catalogue: Catalogue, gallery: Gallery, jobs: Jobs, *, event_limit: int = 20) -> None:
        self.catalogue = catalogue
        self.gallery = gallery
        self.jobs = jobs
        self.event_limit = event_limit
        self.surface = load_surface()

    # --- models -----------------------------------------------------------------------------

    def wangp_list_models(self, *, limit: int = 10, offset: int = 0, include_availability: bool = False,
                          query: str | None = None, **filters: Any) -> list[dict]:  # fmt: skip
        chosen = self.catalogue.select(_filters(filters), query)
        page = chosen[max(0, offset) :][: _clamp(limit, 1, 10)]
        return [self.catalogue.record(m, include_availability=include_availability) for m in page]

    def wangp_search_models(self, *, query: str, limit: int = 10, offset: int = 0,
                            include_availability: bool = False, **filters: Any) -> dict:  # fmt: skip
        if not query.strip():
            raise ToolError("query is required")
        chosen = self.catalogue.select(_filters(filters), query)
        start = max(0, offset)
        page = chosen[start:][: _clamp(limit, 1, 50)]
        return {
            "matches": [self.catalogue.record(m, include_availability=include_availability) for m in page],
            "total_matches": len(chosen),
            "returned": len(page),
            "offset": start,
            "has_more": start + len(page) < len(chosen),
        }

    def wangp_list_model_defs(self, *, limit: int = 10, offset: int = 0, query: str | None = None,
                              **filters: Any) -> list[dict]:  # fmt: skip
        chosen = self.catalogue.select(_filters(filters), query)[max(0, offset) :][: _clamp(limit, 1, 20)]
        return [d for d in (self.catalogue.model_def(m) for m in chosen) if d is not None]

    def wangp_get_model(self, *, model_type: str) -> dict | None:
        return self.catalogue.model_def(model_type)

    def wangp_get_model_metadata(self, *, model_type: str, include_availability: bool = False) -> dict | None:
        return self.catalogue.metadata(model_type, include_availability=include_availability)

    def wangp_get_model_availability(self, *, model_type: str) -> dict:
        return self.catalogue.availability(model_type)

    def wangp_list_model_availability(self, *, limit: int = 20, offset: int = 0, query: str | None = None,
                                      **filters: Any) -> list[dict]:  # fmt: skip
        chosen = self.catalogue.select(_filters(filters), query)[max(0, offset) :][: _clamp(limit, 1, 50)]
        return [self.catalogue.availability(m) for m in chosen]

    def wangp_get_default_settings(self, *, model_type: str) -> dict:
        return self.catalogue.defaults(model_type)

    def wangp_list_loras(self, *, model_type: str) -> dict:
        self.catalogue.availability(model_type)  # unknown model: ValueError
        return {"model_type": model_type, "supported": True, "loras": [], "count": 0}

    def wangp_get_model_schema(self, *, model_type: str) -> dict | None:
        return self.catalogue.schema(model_type)

    # --- gallery ------------------------------------------------------------------------------

    def wangp_list_gallery(self, *, media_type: str = "all", limit: int = 50) -> list[dict]:
        return self.gallery.records(media_type, limit)

    def wangp_get_gallery_item(self, *, gallery_id: str) -> dict:
        return self.gallery.record(gallery_id)

    def wangp_get_gallery_selection(self, *, media_type: str = "all") -> list[dict]:
        return self.gallery.records(media_type, 500, selected_only=True)

    def wangp_create_gallery_upload(self, *, filename: str) -> dict:
        name = os.path.basename(filename.replace("\\", "/"))
        if media_type_of(name) is None:
            raise ToolError("filename must have a supported image, video, or audio extension")
        token = self.gallery.new_token("upload", filename=name)
        return {
            "upload_url": f"/wangp_api/gallery/upload/{token}",
            "method": "PUT",
            "filename": name,
            "expires_in_seconds": TOKEN_SECONDS,
            "max_bytes": MAX_UPLOAD_BYTES,
        }

    def wangp_create_gallery_download(self, *, gallery_id: str) -> dict:
        item = self.gallery.find(gallery_id)
        token = self.gallery.new_token("download", gallery_id=gallery_id)
        return {
            "gallery_id": gallery_id,
            "download_url": f"/wangp_api/gallery/download/{token}",
            "filename": os.path.basename(item.path),
            "media_type": item.media_type,
            "size": os.path.getsize(item.path),
            "expires_in_seconds": TOKEN_SECONDS,
        }

    # --- Deepy templates, post-processing, toolbox (discovery only) ---------------------------

    def wangp_list_deepy_templates(self, *, tool_id: str | None = None) -> list[dict]:
        templates = self.surface["deepy_templates"]
        return [t for t in templates if tool_id is None or t["tool_id"] == tool_id]

    def wangp_get_deepy_template_settings(self, *, tool_id: str, template: str) -> dict:
        known = self.surface["deepy_template_settings"].get(tool_id)
        if known is None or template not in ("default", known["template"]):
            raise ToolError(f"Unknown template '{template}' for tool '{tool_id}' (the reference server knows only"
                            " gen_video/default)")  # fmt: skip
        return known

    def wangp_postprocess(self, *, path: str, process: str | None = None, parameters: dict | None = None) -> dict:
        if not path.startswith(("visual:", "audio:")):
            raise ToolError(
                "Direct filesystem paths are disabled for this MCP server. Use a Gallery id for path,"
                " or restart with filesystem reads enabled."
            )
        item = self.gallery.find(path)
        if process is not None:
            raise ToolError("post-processing is not simulated by the reference server")
        return {"status": "discovery", "path": item.path, "media_type": item.media_type, "processes": [], "count": 0}

    def wangp_toolbox(self, *, action: str | None = None, arguments: dict | None = None) -> dict:
        if action is not None:
            raise ToolError("the toolbox is not simulated by the reference server")
        return {"status": "discovery", "actions": [], "count": 0,
                "next": "Call again with one action and omit arguments to get its exact schema."}  # fmt: skip

    # --- jobs ---------------------------------------------------------------------------------

    async def wangp_generate(self, *, source: Any, wait: bool = False, timeout_s: float | None = None,
                             event_limit: int | None = None) -> dict:  # fmt: skip
        job = self.jobs.submit(source)
        if wait and not job.done:
            try:
                await asyncio.wait_for(job.finished.wait(), timeout_s)
            except TimeoutError:
                raise ToolError("WanGP session job timed out") from None
        return job.snapshot(self._limit(event_limit))

    def wangp_get_job(self, *, job_id: str, event_limit: int | None = None) -> dict:
        return self.jobs.get(job_id).snapshot(self._limit(event_limit))

    def wangp_cancel_job(self, *, job_id: str, event_limit: int | None = None) -> dict:
        return self.jobs.cancel(job_id).snapshot(self._limit(event_limit))

    def _limit(self, event_limit: int | None) -> int:
        return self.event_limit if event_limit is None else event_limit


def _filters(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in filters.items() if k in FILTER_KEYS and v is not None}


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, int(value)))
