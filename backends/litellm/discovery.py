"""Image and video models from the proxy's own list, as far as the user allows them.

The user's model list may hold patterns as well as names: `gpt-image-*=image/final` allows every
model group the proxy lists whose name matches, for that media and tier, so a model added to the
proxy becomes an offer without anyone editing Shotcaller's settings (or releasing a new Shotcaller).
A pattern never widens what a model makes: a listed model whose `mode` the proxy knows must agree
with the pattern's media (image_generation, video_generation); a chat model never becomes a route.
Models named exactly keep their own settings, and the proxy not listing one of them is said.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ...shots import MediaKind
from .client import ModelEntry

PATTERN_CHARS = "*?["
MODES = {MediaKind.IMAGE: "image_generation", MediaKind.VIDEO: "video_generation"}


def is_pattern(name: str) -> bool:
    return any(char in name for char in PATTERN_CHARS)


@dataclass(frozen=True)
class ListedModels:
    """What one look at the proxy's model list found."""

    matched: Mapping[str, str] = field(default_factory=dict)  # listed model -> the pattern that allows it
    missing: Mapping[str, str] = field(default_factory=dict)  # configured model -> why it is not usable


def match_listed(
    listed: Iterable[ModelEntry], exact: Mapping[str, MediaKind], patterns: Mapping[str, MediaKind], url: str
) -> ListedModels:
    """Listed models the patterns allow (first matching pattern wins), and exact names the proxy lacks."""
    entries = list(listed)
    names = {entry.id for entry in entries}
    matched: dict[str, str] = {}
    for entry in entries:
        if entry.id in exact:
            continue
        for pattern, media in patterns.items():
            if fnmatch.fnmatchcase(entry.id, pattern) and (not entry.mode or entry.mode == MODES[media]):
                matched[entry.id] = pattern
                break
    missing = {
        name: f"LiteLLM at {url} does not list the model '{name}' for this key" for name in exact if name not in names
    }
    return ListedModels(matched, missing)
