"""The session gallery (in memory, like the real one) and its one-time upload/download tokens.

Records look like the captured ones: `{"gallery_id", "gallery", "index", "path", "media_type",
"selected", "in_gallery", "settings"}` plus `"current_time_seconds": null` for a selected video.
`gallery_id` is `<visual|audio>:` + the first 12 hex digits of sha1(path with / separators,
casefolded). Adding an item selects it and deselects the others of its gallery.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".aac", ".m4a", ".flac", ".ogg", ".opus")
TOKEN_SECONDS = 600
MAX_UPLOAD_BYTES = 8 * 1024**3


def media_type_of(filename: str) -> str | None:
    extension = os.path.splitext(filename)[1].lower()
    if extension in IMAGE_EXTENSIONS:
        return "image"
    if extension in VIDEO_EXTENSIONS:
        return "video"
    if extension in AUDIO_EXTENSIONS:
        return "audio"
    return None


def gallery_id_for(path: str, gallery: str) -> str:
    digest = hashlib.sha1(path.replace(os.sep, "/").casefold().encode()).hexdigest()
    return f"{gallery}:{digest[:12]}"


@dataclass
class Item:
    gallery_id: str
    gallery: str
    path: str
    media_type: str
    settings: dict[str, Any] = field(default_factory=dict)
    selected: bool = True


@dataclass
class Token:
    kind: str  # "upload" | "download"
    expires: float
    filename: str = ""
    gallery_id: str = ""


class Gallery:
    def __init__(self) -> None:
        self.items: dict[str, list[Item]] = {"visual": [], "audio": []}
        self.tokens: dict[str, Token] = {}

    def add(self, path: str, media_type: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
        gallery = "audio" if media_type == "audio" else "visual"
        gallery_id = gallery_id_for(path, gallery)
        items = self.items[gallery]
        items[:] = [i for i in items if i.gallery_id != gallery_id]
        for other in items:
            other.selected = False
        items.append(Item(gallery_id, gallery, path, media_type, dict(settings or {})))
        return self.record(gallery_id)

    def find(self, gallery_id: str) -> Item:
        for items in self.items.values():
            for item in items:
                if item.gallery_id == gallery_id:
                    return item
        raise KeyError(f"Unknown WanGP gallery_id: {gallery_id}")

    def record(self, gallery_id: str) -> dict[str, Any]:
        item = self.find(gallery_id)
        record: dict[str, Any] = {
            "gallery_id": item.gallery_id,
            "gallery": item.gallery,
            "index": self.items[item.gallery].index(item),
            "path": item.path,
            "media_type": item.media_type,
            "selected": item.selected,
            "in_gallery": True,
            "settings": dict(item.settings),
        }
        if item.media_type == "video" and item.selected:
            record["current_time_seconds"] = None
        return record

    def records(self, media_type: str = "all", limit: int = 50, *, selected_only: bool = False) -> list[dict]:
        if media_type not in ("all", "image", "video", "audio"):
            raise ValueError("media_type must be all, image, video, or audio")
        chosen = [
            self.record(item.gallery_id)
            for gallery in ("visual", "audio")
            for item in self.items[gallery]
            if (media_type == "all" or item.media_type == media_type) and (item.selected or not selected_only)
        ]
        return chosen[: max(1, min(500, int(limit)))]

    # --- transfer tokens ----------------------------------------------------------------------

    def new_token(self, kind: str, *, filename: str = "", gallery_id: str = "") -> str:
        self._expire()
        token = uuid.uuid4().hex
        self.tokens[token] = Token(kind, time.monotonic() + TOKEN_SECONDS, filename, gallery_id)
        return token

    def take_token(self, kind: str, token: str) -> Token | None:
        """The token's ticket, once: a second use, an unknown or an expired token gives None."""
        self._expire()
        ticket = self.tokens.get(token)
        if ticket is None or ticket.kind != kind:
            return None
        del self.tokens[token]
        return ticket

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, ticket in self.tokens.items() if ticket.expires < now]:
            del self.tokens[token]
