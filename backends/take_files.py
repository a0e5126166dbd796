"""Downloading the files of one take: named after the shot, numbered, and stopped between files
when the job is cancelled.

Each backend knows how its server lists a take's files and how one is fetched; the names on disk,
the progress of the download phase and what a cancel leaves behind are the same for all of them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from .base import Cancelled, GenerationRequest
from .files import sanitize_filename, unique_path

Item = TypeVar("Item")


def download_take_files(
    items: Sequence[Item],
    request: GenerationRequest,
    *,
    extension: Callable[[Item], str],
    fetch: Callable[[Item, str, str], None],
    report: Callable[[float, str], None],
    start: float,
    cancel: threading.Event,
) -> list[str]:
    """Fetch each item into request.output_dir as `<stem>[_NN]<extension(item)>`; the paths written.

    `fetch(item, name, destination)` writes one file (`name` is its name on disk, `destination` its
    free path). `report(fraction, message)` moves the bar from `start` (the server's part is done)
    towards 1.0, one step per file. A cancel between files removes the files already written.
    """
    stem = sanitize_filename(request.file_stem, fallback="take")
    written: list[str] = []
    for index, item in enumerate(items):
        if cancel.is_set():
            for path in written:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise Cancelled("the job was cancelled while its files were downloading")
        suffix = f"_{index + 1:02d}" if len(items) > 1 else ""
        name = f"{stem}{suffix}{extension(item)}"
        destination = unique_path(request.output_dir, name)
        report(start + (1.0 - start) * index / len(items), f"downloading {name}")
        fetch(item, name, destination)
        written.append(destination)
    return written
