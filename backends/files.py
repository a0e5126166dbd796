"""Putting bytes a server sent onto the user's disk without trusting the server.

Every file a server names is sanitized before it touches the disk, and every
download goes to a temporary file that is renamed into place only when it is
complete, so a crash or a full disk never leaves a half file under a real name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable

from .base import BackendError

_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+-]+")
_WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}


Verify = Callable[[str], None]  # looks at a complete temporary file; raises to refuse it


class DiskFull(BackendError):
    """The output disk has no room. Nothing partial was left behind."""

    failover = False
    kind = "disk_full"


def sanitize_filename(name: str, *, fallback: str = "output") -> str:
    """A single safe path component from whatever a server called its file."""
    name = unicodedata.normalize("NFKC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # drop any directory part
    name = _UNSAFE.sub("_", name).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    stem = stem[:120] or fallback
    ext = ext[:16]
    return f"{stem}.{ext}" if ext else stem


def slug(text: str, *, max_len: int = 40, fallback: str = "shot") -> str:
    """A readable file-name part from a strip or shot name."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return text[:max_len].strip("_") or fallback


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once at import, on the main thread: os.umask can only be read by setting it, and doing that
# while worker threads create files would race. Files get the user's normal permissions from it
# (mkstemp's own 0600 would make takes unreadable to the rest of a studio's pipeline).
FILE_MODE = 0o666 & ~_current_umask()


def write_atomically(chunks: Iterable[bytes], destination: str, *, verify: Verify | None = None) -> int:
    """Stream chunks to a temporary sibling, fsync, `verify` it, then rename onto destination.

    Returns the number of bytes written. On any failure (a limit passed, a media check refused,
    the disk full) the temporary file is removed and the destination is untouched.
    """
    directory = os.path.dirname(os.path.abspath(destination))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".partial-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _disk_error(exc, destination) from exc
    written = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):  # not on Windows, where mkstemp's files are not private anyway
                os.fchmod(handle.fileno(), FILE_MODE)
            for chunk in chunks:
                handle.write(chunk)
                written += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if verify is not None:
            verify(temporary)
        os.replace(temporary, destination)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise _disk_error(exc, destination) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return written


def unique_path(directory: str, filename: str) -> str:
    """directory/filename, or directory/stem-2.ext ... if that name is taken."""
    stem, ext = os.path.splitext(filename)
    candidate = os.path.join(directory, filename)
    counter = 2
    while os.path.exists(candidate):
        candidate = os.path.join(directory, f"{stem}-{counter}{ext}")
        counter += 1
    return candidate


def _disk_error(exc: OSError, destination: str) -> BackendError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(
            f"the disk holding {os.path.dirname(destination)} is full",
            hint="Free some space or choose another output folder in the preferences; the job can be generated again.",
        )
    return DiskFull(
        f"could not write {destination}: {exc.strerror or exc}",
        hint="Check that the output folder exists and is writable.",
    )
