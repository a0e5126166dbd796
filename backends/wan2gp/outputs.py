"""The take's files of a finished Wan2GP job: found in its result or the gallery, downloaded.

Files go through the gallery's one-time download links to a temporary file renamed into place;
the server's file name gives at most a plain video extension, never a name on disk.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from ...shots import MediaKind
from ..base import GenerationRequest, ProtocolError
from ..files import sanitize_filename
from ..forward_progress import MonotonicReporter
from ..media_check import verifier
from ..take_files import download_take_files
from .client import Wan2GPClient
from .progress import RUN_END

_SAFE_EXTENSION = re.compile(r"^\.[a-z0-9]{1,8}$")
_VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi")


def download_outputs(
    client: Wan2GPClient,
    result: dict[str, Any],
    request: GenerationRequest,
    job_id: str,
    progress: MonotonicReporter,
    cancel: threading.Event,
) -> list[str]:
    items = _output_items(client, result)
    if not items:
        raise ProtocolError(
            f"Wan2GP at {client.origin} finished job {job_id} without a video", hint="See the Wan2GP console."
        )

    def fetch(item: dict[str, Any], name: str, destination: str) -> None:
        source, what = f"Wan2GP at {client.origin}", f"the video of job {job_id}"
        client.download(
            str(item["gallery_id"]), destination, verify=verifier(MediaKind.VIDEO, source=source, what=what)
        )

    return download_take_files(
        items,
        request,
        extension=lambda item: _safe_extension(str(item.get("path") or "")),
        fetch=fetch,
        report=progress.update,
        start=RUN_END,
        cancel=cancel,
    )


def _output_items(client: Wan2GPClient, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Gallery records of the job's videos: from the result, else found by path in the gallery."""
    items = [i for i in result.get("gallery_items") or [] if isinstance(i, dict) and i.get("gallery_id")]
    videos = [i for i in items if i.get("media_type") == "video"]
    if videos:
        return videos
    files = [str(f) for f in result.get("generated_files") or [] if isinstance(f, str)]
    if not files:
        return [i for i in items if i.get("gallery") == "visual"]
    by_path = {str(i.get("path")): i for i in client.list_gallery("video") if i.get("gallery_id")}
    found = [by_path[f] for f in files if f in by_path]
    if not found:
        raise ProtocolError(
            f"Wan2GP at {client.origin} made {', '.join(os.path.basename(f) for f in files)} but its"
            " gallery does not list it, so Shotcaller cannot download it",
            hint="Update Wan2GP; the file is in its output folder on that machine.",
        )
    return found


def _safe_extension(server_path: str) -> str:
    """The server's extension, only if it is plainly a video extension; the server's name is never used."""
    extension = os.path.splitext(sanitize_filename(server_path.replace("\\", "/")))[1].lower()
    return extension if _SAFE_EXTENSION.match(extension) and extension in _VIDEO_EXTENSIONS else ".mp4"
