"""What the reference server's nodes pass between them, and where nodes register.

The stand-in values (Handle for MODEL / CLIP / VAE, Conditioning, Latent, ...) carry what the
stand-in nodes need to render a result that shows what sampled it. A node is
`fn(ctx, **inputs) -> (outputs tuple, ui dict | None)`, registered under its class names by `@node`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import media


@dataclass
class Handle:
    """MODEL / CLIP / VAE stand-in."""

    kind: str
    name: str
    details: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"<{self.kind} {self.name}>"


@dataclass
class Conditioning:
    text: str
    details: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"<CONDITIONING {self.text[:40]!r}>"


@dataclass
class Guider:
    """GUIDER stand-in (BasicGuider, CFGGuider): the model and the conditioning it samples with."""

    model: Any
    positive: Any
    negative: Any = None

    def __str__(self) -> str:
        return f"<GUIDER {getattr(self.positive, 'text', '')[:40]!r}>"


@dataclass
class Sigmas:
    """SIGMAS stand-in: only how many steps they make."""

    steps: int

    def __str__(self) -> str:
        return f"<SIGMAS {self.steps} steps>"


@dataclass
class Noise:
    seed: int

    def __str__(self) -> str:
        return f"<NOISE seed {self.seed}>"


@dataclass
class Latent:
    """A LATENT stand-in: the pixel size and frame count it decodes to, plus what sampled it."""

    width: int
    height: int
    frames: int
    batch: int
    seed: int | None = None
    text: str = ""
    negative: str = ""
    caption: str = ""
    start_image: Any = None  # IMAGE frames of an image-to-video latent

    def __str__(self) -> str:
        return f"<LATENT {self.batch}x{self.frames}x{self.height}x{self.width}>"


@dataclass
class AudioLatent:
    """A LATENT stand-in for sound: seconds of `kind` ("sound": Stable Audio, "music": ACE-Step)."""

    seconds: float
    batch: int
    kind: str
    seed: int | None = None
    text: str = ""
    negative: str = ""
    caption: str = ""

    def __str__(self) -> str:
        return f"<LATENT {self.kind} {self.batch}x{self.seconds:g}s>"


@dataclass
class Video:
    frames: media.Frames
    fps: float
    audio: dict | None = None

    def __str__(self) -> str:
        return f"<VIDEO {self.frames.count} frames {self.frames.width}x{self.frames.height} @ {self.fps}>"


class OutOfMemoryError(RuntimeError):
    """Reported as `torch.OutOfMemoryError`, like the real CUDA allocation failure."""


OutOfMemoryError.__module__ = "torch"
OutOfMemoryError.__qualname__ = "OutOfMemoryError"

NodeResult = tuple[tuple, dict | None]
NODES: dict[str, Callable[..., NodeResult]] = {}
SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustomAdvanced", "SamplerCustom"}


def node(*names: str):
    def register(fn):
        for name in names:
            NODES[name] = fn
        return fn

    return register


def file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_input_file(ctx, name: str) -> str:
    from .validation import split_annotation

    name, kind = split_annotation(name)
    return os.path.join(ctx.directories[kind or "input"], name)


def is_changed(ctx, class_type: str, inputs: dict) -> Any:
    """Extra cache-key part: file-loading nodes re-run when the file content changes."""
    key = {"LoadImage": "image", "LoadImageMask": "image", "LoadAudio": "audio", "LoadVideo": "file"}.get(class_type)
    if key and isinstance(inputs.get(key), str):
        path = resolve_input_file(ctx, inputs[key])
        return file_hash(path) if os.path.isfile(path) else None
    return None
