"""Live previews in real Blender: written off the main thread, swapped in only for shots a panel
draws, at most one per shot per drain; and nothing left running after clear() (unregister)."""

from __future__ import annotations

import importlib
import os
import struct
import threading
import zlib

import pytest


def png(shade: int, width: int = 32, height: int = 24) -> bytes:
    """A real grey PNG (standard library only: the bpy venv has no imaging library)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([shade]) * (3 * width) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def previews(shotcaller_addon):
    module = importlib.import_module(f"{shotcaller_addon}.mainthread.previews")
    yield module
    module.clear()


def test_frames_are_written_off_the_main_thread_and_only_seen_shots_swap(previews, blender):
    previews.clear()  # an earlier test's writer may still be running: the next offer starts a new one
    writers = []
    original = previews._write_loop
    previews._write_loop = lambda: (writers.append(threading.current_thread()), original())[1]
    try:
        for shade in range(5):  # five frames of one shot before the writer wakes: only the newest counts
            previews.offer("shot-seen", png(shade * 40))
        previews.offer("shot-unseen", png(200))
        assert previews.flush()
    finally:
        previews._write_loop = original
    assert writers and all(thread is not threading.main_thread() for thread in writers)
    seen_path, unseen_path = previews.ready_path("shot-seen"), previews.ready_path("shot-unseen")
    assert os.path.isfile(seen_path) and os.path.isfile(unseen_path)

    before = previews.swaps
    assert previews.swap_ready() == 0  # nobody has drawn either shot
    assert not previews.has_preview("shot-seen")
    assert previews.icon_id("shot-seen") == 0  # what the panel calls; it marks the shot as seen
    assert previews.swap_ready() == 1
    assert previews.has_preview("shot-seen") and not previews.has_preview("shot-unseen")
    assert previews.swap_ready() == 0  # nothing new to show
    assert previews.swaps == before + 1

    previews.offer("shot-seen", png(250))
    assert previews.flush()
    assert previews.swap_ready() == 1  # the newer frame replaces the shown one
    assert previews.ready_path("shot-seen") != seen_path


def test_clear_stops_the_writer_thread(previews):
    previews.offer("shot-x", png(10))
    assert previews.flush()
    previews.clear()
    assert not [t for t in threading.enumerate() if t.name == "shotcaller-previews"]
    previews.offer("shot-y", png(20))  # usable again after a clear (re-enabling the add-on)
    assert previews.flush()
    assert os.path.isfile(previews.ready_path("shot-y"))
