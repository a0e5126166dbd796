"""IMAGE values of the reference server: batches of RGB uint8 frames of one size, possibly lazy.

`Frames` objects stand in for torch tensors, so a 1280x704x121 video is rendered frame by frame
while it is encoded instead of being held in memory. LoadImage reads a file into them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image


class Frames:
    """A batch of RGB uint8 frames of one size; `frame(i)` returns an (H, W, 3) array."""

    width: int
    height: int
    count: int

    def frame(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(self.count):
            yield self.frame(index)

    def __str__(self) -> str:  # shown in execution_error current_inputs
        return f"<IMAGE {self.count}x{self.height}x{self.width}x3>"


class ArrayFrames(Frames):
    def __init__(self, array: np.ndarray):
        if array.ndim != 4 or array.shape[3] != 3 or array.dtype != np.uint8:
            raise ValueError(f"expected a (B, H, W, 3) uint8 array, got {array.shape} {array.dtype}")
        self.array = array
        self.count, self.height, self.width = array.shape[:3]

    def frame(self, index: int) -> np.ndarray:
        return self.array[index]


class SolidFrames(Frames):
    def __init__(self, width: int, height: int, count: int, rgb: tuple[int, int, int]):
        self.width, self.height, self.count = width, height, count
        self._frame = np.empty((height, width, 3), np.uint8)
        self._frame[:] = rgb

    def frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self._frame


class MappedFrames(Frames):
    """Frames of `source` passed through `fn` (lazily), e.g. invert or scale."""

    def __init__(self, source: Frames, fn: Callable[[np.ndarray], np.ndarray], width: int, height: int):
        self.source, self.fn = source, fn
        self.width, self.height, self.count = width, height, source.count

    def frame(self, index: int) -> np.ndarray:
        return self.fn(self.source.frame(index))


class SliceFrames(Frames):
    def __init__(self, source: Frames, indices: list[int]):
        self.source, self.indices = source, indices
        self.width, self.height, self.count = source.width, source.height, len(indices)

    def frame(self, index: int) -> np.ndarray:
        return self.source.frame(self.indices[index])


def load_image_file(path: str) -> tuple[Frames, np.ndarray]:
    """LoadImage: every frame of the file as RGB plus a mask (1 - alpha; 64x64 zeros if opaque)."""
    from PIL import ImageOps, ImageSequence

    frames, masks = [], []
    with Image.open(path) as image:
        size = None
        for page in ImageSequence.Iterator(image):
            page = ImageOps.exif_transpose(page) or page
            rgb = page.convert("RGB")
            if size is None:
                size = rgb.size
            if rgb.size != size:
                continue
            frames.append(np.asarray(rgb))
            if "A" in page.getbands():
                alpha = np.asarray(page.getchannel("A"), np.float32) / 255.0
                masks.append(1.0 - alpha)
            else:
                masks.append(np.zeros((64, 64), np.float32))
    return ArrayFrames(np.stack(frames)), np.stack(masks)
