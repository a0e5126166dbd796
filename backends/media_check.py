"""Is a downloaded file the media it claims to be? A container signature and a cheap header probe.

A server that answers 200 with an HTML error page, a JSON message or nothing where a video was
expected must not leave that as a take. Only the first bytes are read: enough to recognise PNG,
JPEG, WebP, GIF, MP4/MOV (and M4A), WebM/Matroska, AVI, WAV, FLAC, MP3 and Ogg, and to see that
their first header is well formed. It does not decode the media (Blender does that, and says so
when a file is damaged further in). Stdlib only.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..shots import MediaKind
from .base import ProtocolError

PROBE_BYTES = 4096

IMAGE_FORMATS = frozenset({"png", "jpeg", "webp", "gif"})
VIDEO_FORMATS = frozenset({"mp4", "webm", "avi", "gif", "webp", "png"})  # animated WebP/PNG from ComfyUI
AUDIO_FORMATS = frozenset({"wav", "flac", "mp3", "ogg", "mp4"})  # M4A is an MP4 container
ACCEPTED: dict[MediaKind, frozenset[str]] = {
    MediaKind.IMAGE: IMAGE_FORMATS,
    MediaKind.VIDEO: VIDEO_FORMATS,
    MediaKind.AUDIO: AUDIO_FORMATS,
    MediaKind.MUSIC: AUDIO_FORMATS,
}
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")
_MP3_BITRATE_OK = range(1, 15)  # index 0 (free) and 15 (bad) are not used by encoders
_SAMPLE_RATE_OK = range(0, 3)


def detect(head: bytes) -> str:
    """The format the first bytes show ("png", "mp4", ...), or "" when they show none of the known ones."""
    for name, probe in _PROBES:
        if probe(head):
            return name
    return ""


def _png(h: bytes) -> bool:
    if not h.startswith(b"\x89PNG\r\n\x1a\n") or h[12:16] != b"IHDR":
        return False
    width, height = struct.unpack(">II", h[16:24]) if len(h) >= 24 else (0, 0)
    return width > 0 and height > 0


def _jpeg(h: bytes) -> bool:
    return h[:3] == b"\xff\xd8\xff" and len(h) > 3 and h[3] >= 0xC0


def _webp(h: bytes) -> bool:
    return h[:4] == b"RIFF" and h[8:12] == b"WEBP" and h[12:16] in (b"VP8 ", b"VP8L", b"VP8X")


def _gif(h: bytes) -> bool:
    if h[:6] not in (b"GIF87a", b"GIF89a") or len(h) < 10:
        return False
    width, height = struct.unpack("<HH", h[6:10])
    return width > 0 and height > 0


def _mp4(h: bytes) -> bool:
    if len(h) < 8 or h[4:8] not in _MP4_BOXES:
        return False
    size = struct.unpack(">I", h[:4])[0]
    return size == 1 or size >= 8  # 1: a 64-bit size follows


def _matroska(h: bytes) -> bool:
    return h[:4] == b"\x1a\x45\xdf\xa3" and (b"webm" in h[:64] or b"matroska" in h[:64])


def _avi(h: bytes) -> bool:
    return h[:4] == b"RIFF" and h[8:12] == b"AVI "


def _wav(h: bytes) -> bool:
    return h[:4] in (b"RIFF", b"RF64") and h[8:12] == b"WAVE" and b"fmt " in h[12:256]


def _flac(h: bytes) -> bool:
    return h[:4] == b"fLaC" and len(h) > 4 and h[4] & 0x7F == 0  # STREAMINFO comes first


def _mp3(h: bytes) -> bool:
    if h[:3] == b"ID3":
        return len(h) >= 10 and h[3] in (2, 3, 4) and all(b < 0x80 for b in h[6:10])
    if len(h) < 4 or h[0] != 0xFF or h[1] & 0xE0 != 0xE0:
        return False
    version, layer = (h[1] >> 3) & 3, (h[1] >> 1) & 3
    bitrate, rate = h[2] >> 4, (h[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate in _MP3_BITRATE_OK and rate in _SAMPLE_RATE_OK


def _ogg(h: bytes) -> bool:
    return h[:4] == b"OggS" and len(h) > 5 and h[4] == 0


_PROBES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("png", _png), ("jpeg", _jpeg), ("webp", _webp), ("gif", _gif), ("mp4", _mp4), ("webm", _matroska),
    ("avi", _avi), ("wav", _wav), ("flac", _flac), ("mp3", _mp3), ("ogg", _ogg),
)  # fmt: skip


def quote_start(head: bytes, limit: int = 60) -> str:
    """The first bytes, readable: text as text, anything else as hex."""
    sample = head[:limit]
    if not sample:
        return "nothing (an empty file)"
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in sample)
    if printable >= len(sample) * 0.9:
        text = " ".join(sample.decode("ascii", "replace").split())
        return f"'{text}{'...' if len(head) > limit else ''}'"
    return f"bytes {sample[:24].hex(' ')}{' ...' if len(head) > 24 else ''}"


def check_file(path: str, media: MediaKind, *, source: str, what: str) -> str:
    """The format of the file at `path`, or ProtocolError when it is not `media` (quoting its first bytes).

    `source` names the server ("ComfyUI at http://..."), `what` the file ("output file 'x.png'").
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(PROBE_BYTES)
    except OSError as exc:
        raise ProtocolError(f"cannot read back {what} from {source}: {exc.strerror or exc}") from exc
    return check_bytes(head, media, source=source, what=what)


def check_bytes(head: bytes, media: MediaKind, *, source: str, what: str) -> str:
    found = detect(head)
    kind = "sound" if media in (MediaKind.AUDIO, MediaKind.MUSIC) else media.value
    if found not in ACCEPTED[media]:
        seen = f"{found.upper()} data" if found else quote_start(head)
        raise ProtocolError(
            f"{source} sent {what} that is not {'an' if kind == 'image' else 'a'} {kind}: it begins with {seen}",
            hint="Nothing was kept. The server may have answered with an error page; see its console or log.",
        )
    return found


def verifier(media: MediaKind, *, source: str, what: str) -> Callable[[str], None]:
    """A `verify` for files.write_atomically: the file keeps its name only if it is `media`."""

    def verify(path: str) -> None:
        check_file(path, media, source=source, what=what)

    return verify
