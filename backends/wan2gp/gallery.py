"""The Wan2GP gallery's transfers: a local file up into it, an item down out of it.

The MCP tools hand out one-time upload and download URLs (relative to the server's origin); the
bytes go over plain HTTP to those URLs, never through JSON-RPC.
"""

from __future__ import annotations

import json
import mimetypes
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..base import InvalidRequest, ProtocolError
from ..files import Verify, write_atomically
from ..http import ErrorAnswer, read_all, send, snippet, stream, unreadable_init_image
from .errors import IS_IT_WAN2GP, WAN2GP, envelope_message, http_error
from .mcp import MCPSession, log


@dataclass(frozen=True)
class DownloadedFile:
    path: str
    size: int
    server_filename: str
    media_type: str


class GalleryTransfers(MCPSession):
    """The gallery: its listing, upload and download. Part of Wan2GPClient."""

    def list_gallery(self, media_type: str = "all", limit: int = 500) -> list[dict[str, Any]]:
        value = self.call_tool("wangp_list_gallery", {"media_type": media_type, "limit": limit})
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

    def upload(self, path: str, *, filename: str | None = None) -> dict[str, Any]:
        """Put a local file into the server's gallery; returns its gallery record (with gallery_id).

        Upload URLs are one-time and expire: a link that is gone already is asked for once more.
        """
        name = os.path.basename(filename or path)
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise unreadable_init_image(path, exc) from exc
        for attempt in range(2):
            ticket = self.call_tool("wangp_create_gallery_upload", {"filename": name})
            upload_url = ticket.get("upload_url") if isinstance(ticket, dict) else None
            if not isinstance(upload_url, str) or not upload_url:
                raise ProtocolError(f"Wan2GP at {self.origin} gave no upload URL for {name}: {snippet(str(ticket))}")
            max_bytes = ticket.get("max_bytes")
            if isinstance(max_bytes, int) and size > max_bytes:
                raise InvalidRequest(
                    f"the init image {path} is larger than Wan2GP accepts ({max_bytes} bytes)",
                    hint="Use a smaller image.",
                )
            method = str(ticket.get("method") or "PUT").upper()
            try:
                with open(path, "rb") as handle:
                    status, body = self._send_file(method, self._absolute(upload_url), handle, size, name)
            except OSError as exc:
                raise unreadable_init_image(path, exc) from exc
            if status == 404 and attempt == 0:
                log.info("Wan2GP upload link for %s was gone; asking for a new one", name)
                continue
            return self._upload_answer(status, body, name)
        raise AssertionError("unreachable")

    def download(self, gallery_id: str, destination: str, *, verify: Verify | None = None) -> DownloadedFile:
        """Stream one gallery item to `destination`, atomically (one-time links are renewed once);
        `verify` checks the complete file before it takes its name."""
        for attempt in range(2):
            ticket = self.call_tool("wangp_create_gallery_download", {"gallery_id": gallery_id})
            download_url = ticket.get("download_url") if isinstance(ticket, dict) else None
            if not isinstance(download_url, str) or not download_url:
                raise ProtocolError(
                    f"Wan2GP at {self.origin} gave no download URL for {gallery_id}: {snippet(str(ticket))}"
                )
            what = f"the file of gallery item {gallery_id}"
            request = urllib.request.Request(self._absolute(download_url), method="GET")
            try:
                response = send(
                    request,
                    self.timeout,
                    self.origin,
                    WAN2GP,
                    policy=self.policy,
                    deadline=self.policy.download_seconds,
                )
            except ErrorAnswer as answer:
                if answer.status == 404 and attempt == 0:
                    log.info("Wan2GP download link for %s was gone; asking for a new one", gallery_id)
                    continue
                if answer.status in (401, 403):
                    raise self.policy.credentials.refused(answer.status, what) from None
                raise ProtocolError(
                    f"Wan2GP at {self.origin} could not serve {what} (HTTP {answer.status}):"
                    f" {envelope_message(answer.body) or snippet(answer.body) or '(empty answer)'}",
                    hint="Download links are one-time and expire after 10 minutes; generate again.",
                ) from None
            with response:
                size = write_atomically(stream(response, self.origin, what, WAN2GP), destination, verify=verify)
            return DownloadedFile(
                destination,
                size,
                str((ticket or {}).get("filename") or ""),
                str((ticket or {}).get("media_type") or ""),
            )
        raise AssertionError("unreachable")

    # --- gallery plumbing ------------------------------------------------------------------------

    def _absolute(self, url: str) -> str:
        """Upload and download URLs are relative to the server's origin (not to /mcp/)."""
        target = urllib.parse.urljoin(self.origin + "/", url)
        if urllib.parse.urlsplit(target).netloc != urllib.parse.urlsplit(self.origin).netloc:
            raise ProtocolError(f"Wan2GP at {self.origin} pointed a transfer at another server: {url}")
        return target

    def _send_file(self, method: str, url: str, handle: Any, size: int, name: str) -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=handle, method=method)
        request.add_header("Content-Length", str(size))
        request.add_header("Content-Type", mimetypes.guess_type(name)[0] or "application/octet-stream")
        try:
            with send(request, self.timeout, self.origin, WAN2GP, policy=self.policy) as response:
                return response.status, read_all(response, self.origin, WAN2GP)
        except ErrorAnswer as answer:
            return answer.status, answer.body

    def _upload_answer(self, status: int, body: bytes, name: str) -> dict[str, Any]:
        message = envelope_message(body) or snippet(body) or "(empty answer)"
        if status in (401, 403):
            raise self.policy.credentials.refused(status, f"the upload of {name}")
        if status == 400:
            raise InvalidRequest(
                f"Wan2GP at {self.origin} could not use the init image {name}: {message}",
                hint="Use a PNG, JPEG or WebP image that opens in an image viewer.",
            )
        if status == 413:
            raise InvalidRequest(
                f"Wan2GP at {self.origin} says the init image {name} is too large: {message}",
                hint="Use a smaller image.",
            )
        if status == 404:
            raise ProtocolError(
                f"Wan2GP at {self.origin} lost the upload link for {name} twice: {message}",
                hint="Try again; upload links expire after 10 minutes.",
            )
        if status >= 400:
            raise http_error(status, body, self.origin, f"the upload of {name}")
        try:
            record = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("gallery_id"), str):
            raise ProtocolError(
                f"Wan2GP at {self.origin} accepted {name} but named no gallery item: {message}", hint=IS_IT_WAN2GP
            )
        return record
