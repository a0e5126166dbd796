"""Long texts in narrow panels: wrapping to the sidebar's width, and the routing candidates kept on a shot.

No bpy here (plain functions, tested with plain pytest); the panels call them from draw().
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable
from typing import Any

# Blender's UI font at scale 1.0 averages about 7 pixels a character; the margins take about 30.
PIXELS_PER_CHAR = 7.0
MARGIN_PIXELS = 30.0
NARROWEST = 20
UNKNOWN_WIDTH_CHARS = 48  # no region (headless, or a popup drawn before it has a size)


def chars_for_width(width_pixels: float | None, ui_scale: float = 1.0) -> int:
    """How many characters fit on one label of a region `width_pixels` wide."""
    if not width_pixels or width_pixels <= 0:
        return UNKNOWN_WIDTH_CHARS
    return max(NARROWEST, int((width_pixels - MARGIN_PIXELS * ui_scale) / (PIXELS_PER_CHAR * max(ui_scale, 0.1))))


def wrap(text: str, width: int) -> list[str]:
    """`text` as lines of at most `width` characters; every word kept, long ones (URLs, paths) split.

    Paragraphs (line breaks in the text) stay apart; nothing is ever cut off.
    """
    lines: list[str] = []
    for paragraph in (text or "").splitlines():
        lines.extend(
            textwrap.wrap(paragraph, width=max(1, width), break_long_words=True, break_on_hyphens=False) or [""]
        )
    while lines and not lines[-1]:
        lines.pop()
    return lines


def candidates_json(candidates: Iterable[Any]) -> str:
    """Every candidate the router considered (label, accepted, reason), kept on the shot as JSON."""
    return json.dumps(
        [{"label": c.label, "accepted": bool(c.accepted), "reason": c.reason} for c in candidates],
        ensure_ascii=False,
    )


def parse_candidates(text: str) -> list[dict[str, Any]]:
    """The list `candidates_json` wrote; [] for an empty or damaged value (a hand-edited file)."""
    try:
        loaded = json.loads(text) if text else []
    except ValueError:
        return []
    if not isinstance(loaded, list):
        return []
    return [
        {
            "label": str(item.get("label", "")),
            "accepted": bool(item.get("accepted")),
            "reason": str(item.get("reason", "")),
        }
        for item in loaded
        if isinstance(item, dict)
    ]
