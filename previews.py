"""Live previews of running shots, shown as an image on the shot's panel.

Backends report small PNG or JPEG frames while they work; the main thread writes the
newest one per shot into Blender's session temp folder and (re)loads it into a
preview collection that panels draw from.
"""

from __future__ import annotations

import os

import bpy
import bpy.utils.previews

_collection: bpy.utils.previews.ImagePreviewCollection | None = None


def _previews() -> bpy.utils.previews.ImagePreviewCollection:
    global _collection
    if _collection is None:
        _collection = bpy.utils.previews.new()
    return _collection


def show(shot_id: str, image: bytes, image_format: str = "png") -> None:
    folder = os.path.join(bpy.app.tempdir or os.path.expanduser("~"), "shotcaller_previews")
    os.makedirs(folder, exist_ok=True)
    extension = "jpg" if image_format == "jpeg" else "png"
    path = os.path.join(folder, f"{shot_id}.{extension}")
    with open(path, "wb") as handle:
        handle.write(image)
    previews = _previews()
    if shot_id in previews:
        previews.pop(shot_id)  # a loaded preview is cached by key: drop it to see the new frame
    previews.load(shot_id, path, "IMAGE")


def has_preview(shot_id: str) -> bool:
    return _collection is not None and shot_id in _collection


def icon_id(shot_id: str) -> int:
    """The panel's icon for the preview; 0 without a UI (Blender assigns no icons headless)."""
    if _collection is None or shot_id not in _collection:
        return 0
    return _collection[shot_id].icon_id


def forget(shot_id: str) -> None:
    if _collection is not None and shot_id in _collection:
        _collection.pop(shot_id)


def clear() -> None:
    global _collection
    if _collection is not None:
        bpy.utils.previews.remove(_collection)
        _collection = None
