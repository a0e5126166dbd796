"""Which files of a finished prompt make the take, and what they may be called on disk.

History outputs are the source of truth (websocket `executed` messages are not
re-sent reliably by every version). Core video saves list their files under
`images` with `"animated": [true]`, so the media kind comes from the extension.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ...shots import MediaKind
from ..files import sanitize_filename

_OUTPUT_KEYS = ("images", "gifs", "videos", "video", "audio")  # gifs/videos: VideoHelperSuite and kin
_VIDEO_EXTENSIONS = {".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif", ".m4v"}
_AUDIO_EXTENSIONS = {".flac", ".wav", ".mp3", ".ogg", ".opus", ".m4a", ".aac"}
_SAFE_EXTENSION = re.compile(r"^\.[a-z0-9]{1,8}$")


def output_files(entry: dict[str, Any], media: MediaKind) -> list[dict[str, Any]]:
    """File references from a history entry, those of the template's media first.

    Saved files (type "output") are preferred; temp previews count only when nothing was saved.
    """
    outputs = entry.get("outputs") if isinstance(entry.get("outputs"), dict) else {}
    refs: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for node_output in (outputs or {}).values():
        if not isinstance(node_output, dict):
            continue
        animated = bool(node_output.get("animated")) and any(node_output.get("animated") or [])
        for key in _OUTPUT_KEYS:
            for ref in node_output.get(key) or []:
                if not isinstance(ref, dict) or not ref.get("filename"):
                    continue
                identity = (str(ref["filename"]), str(ref.get("subfolder", "")), str(ref.get("type", "output")))
                if identity not in seen:
                    seen.add(identity)
                    refs.append({**ref, "_animated": animated})
    saved = [ref for ref in refs if ref.get("type", "output") != "temp"] or refs
    wanted = MediaKind.AUDIO if media is MediaKind.MUSIC else media
    saved.sort(key=lambda ref: media_for_file(str(ref["filename"]), bool(ref["_animated"])) is not wanted)
    return [{k: v for k, v in ref.items() if k != "_animated"} for ref in saved]


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
