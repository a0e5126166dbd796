"""Which files of a finished prompt make the take, what they may be called on disk, and how long it ran.

History outputs are the source of truth (websocket `executed` messages are not
re-sent reliably by every version). Core saves list images, animated images and videos
under `images` (videos with `"animated": [true]`), sounds under `audio`, and PreviewAny
its strings under `text`; custom nodes add `gifs` (VideoHelperSuite) and kin. The media
kind of a file comes from its extension, never from the key it was listed under.
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
from .client import ComfyUIClient
from .progress import RUN_END
from .workflow import ComfyTemplate

_OUTPUT_KEYS = ("images", "gifs", "videos", "video", "audio")  # gifs/videos: VideoHelperSuite and kin
_VIDEO_EXTENSIONS = {".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif", ".m4v"}
_AUDIO_EXTENSIONS = {".flac", ".wav", ".mp3", ".ogg", ".opus", ".m4a", ".aac"}
_IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp"}
_MEDIA_EXTENSIONS = _VIDEO_EXTENSIONS | _AUDIO_EXTENSIONS | _IMAGE_EXTENSIONS
_SAFE_EXTENSION = re.compile(r"^\.[a-z0-9]{1,8}$")
MAX_TEXT = 2000  # characters kept per text output, for the take's record


def output_files(entry: dict[str, Any], media: MediaKind) -> list[dict[str, Any]]:
    """File references from a history entry, those of the template's media first.

    Saved files (type "output") are preferred; temp previews count only when nothing was saved.
    Each reference gets a `media` key: the kind its extension says it is.
    """
    outputs = entry.get("outputs") if isinstance(entry.get("outputs"), dict) else {}
    refs: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for node_output in (outputs or {}).values():
        if not isinstance(node_output, dict):
            continue
        animated = bool(node_output.get("animated")) and any(node_output.get("animated") or [])
        for key in _OUTPUT_KEYS:
            items = node_output.get(key)
            for ref in items if isinstance(items, list) else []:
                if not isinstance(ref, dict) or not ref.get("filename"):
                    continue
                identity = (str(ref["filename"]), str(ref.get("subfolder", "")), str(ref.get("type", "output")))
                if identity not in seen:
                    seen.add(identity)
                    refs.append({**ref, "media": media_for_file(str(ref["filename"]), animated)})
    saved = [ref for ref in refs if ref.get("type", "output") != "temp"] or refs
    wanted = file_media(media)
    saved.sort(key=lambda ref: ref["media"] is not wanted)
    return saved


def output_texts(entry: dict[str, Any]) -> list[str]:
    """The strings text outputs (PreviewAny and kin) showed, each cut to MAX_TEXT characters."""
    outputs = entry.get("outputs") if isinstance(entry.get("outputs"), dict) else {}
    texts: list[str] = []
    for node_output in (outputs or {}).values():
        items = node_output.get("text") if isinstance(node_output, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, str):
                texts.append(item[:MAX_TEXT])
    return texts


def file_media(media: MediaKind) -> MediaKind:
    """The kind of file a template of `media` produces (music is a sound file)."""
    return MediaKind.AUDIO if media is MediaKind.MUSIC else media


def media_for_file(filename: str, animated: bool = False) -> MediaKind:
    extension = os.path.splitext(filename)[1].lower()
    if extension in _AUDIO_EXTENSIONS:
        return MediaKind.AUDIO
    if extension in _VIDEO_EXTENSIONS or (animated and extension in {".webp", ".png"}):
        return MediaKind.VIDEO
    return MediaKind.IMAGE


def safe_extension(server_filename: str) -> str:
    """The server's extension, only if it is plainly an extension; the server's name is never used."""
    extension = os.path.splitext(sanitize_filename(server_filename))[1].lower()
    return extension if _SAFE_EXTENSION.match(extension) else ".bin"


def download_outputs(
    client: ComfyUIClient,
    base_url: str,
    entry: dict[str, Any],
    request: GenerationRequest,
    template: ComfyTemplate,
    progress: MonotonicReporter,
    cancel: threading.Event,
) -> list[str]:
    """Download the take's files from a finished history entry into request.output_dir; their paths."""
    refs = output_files(entry, template.media)
    if not refs:
        raise ProtocolError(
            f"ComfyUI at {base_url} finished template '{template.name}' without an output file",
            hint="The template's save node may be missing or disabled.",
        )
    wanted = file_media(template.media)
    if refs[0]["media"] is not wanted:
        found = ", ".join(str(ref.get("filename")) for ref in refs[:3])
        raise ProtocolError(
            f"ComfyUI at {base_url} finished template '{template.name}' without a"
            f" {wanted.value} file (it saved {found})",
            hint=f"The template's save node does not save {wanted.value}; check its workflow.",
        )

    def fetch(ref: dict[str, Any], name: str, destination: str) -> None:
        what = f"output file '{sanitize_filename(str(ref.get('filename', '')))}'"
        # A file is checked as what its extension says; one with an unknown extension as the template's media.
        kind = ref["media"] if os.path.splitext(name)[1] in _MEDIA_EXTENSIONS else wanted
        client.download(ref, destination, verify=verifier(kind, source=f"ComfyUI at {base_url}", what=what))

    return download_take_files(
        refs,
        request,
        extension=lambda ref: safe_extension(str(ref.get("filename", ""))),
        fetch=fetch,
        report=progress.update,
        start=RUN_END,
        cancel=cancel,
    )


def run_seconds_of(entry: dict[str, Any]) -> float | None:
    """Seconds the server spent executing the prompt (its history's execution_start to the last
    message), so a configured rate is charged for running, not for waiting in the queue."""
    status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
    stamps: dict[str, float] = {}
    for message in (status or {}).get("messages") or []:
        if isinstance(message, list | tuple) and len(message) == 2 and isinstance(message[1], dict):
            stamp = message[1].get("timestamp")
            if isinstance(stamp, int | float):
                stamps.setdefault(str(message[0]), float(stamp))
                stamps["last"] = float(stamp)
    start = stamps.get("execution_start")
    if start is None or "last" not in stamps:
        return None
    return max(0.0, (stamps["last"] - start) / 1000.0)  # ComfyUI stamps are milliseconds
