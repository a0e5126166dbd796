"""Drawing long texts whole: wrapped labels for the sidebar, and the Details popup of one shot
(the whole message, what to do, where it went and why, every alternative with its reason)."""

from __future__ import annotations

from typing import Any

from .text import chars_for_width, parse_candidates, wrap

POPUP_WIDTH = 560
POPUP_CHARS = chars_for_width(POPUP_WIDTH)
ICON_CHARS = 3  # an icon (or the blank that lines continuation lines up under it) takes about 3 characters


def region_chars(context: Any) -> int:
    """Characters per label in the region being drawn (the sidebar's width changes as the user drags it)."""
    region = getattr(context, "region", None)
    preferences = getattr(context, "preferences", None)
    scale = preferences.view.ui_scale if preferences is not None else 1.0
    return chars_for_width(getattr(region, "width", None), scale)


def wrapped(layout: Any, text: str, width: int, icon: str = "NONE") -> None:
    """`text` as as many labels as it needs; the icon on the first, continuation lines lined up under it."""
    if not text:
        return
    column = layout.column(align=True)
    indent = icon != "NONE"
    for number, line in enumerate(wrap(text, width - (ICON_CHARS if indent else 0))):
        column.label(text=line, icon=icon if number == 0 else ("BLANK1" if indent else "NONE"))


def message_without_hint(shot: Any) -> str:
    """A failure's message is 'what went wrong' then 'what to do'; the popup shows the two apart."""
    message, hint = shot.message.strip(), shot.hint.strip()
    if hint and message.endswith(hint):
        return message[: -len(hint)].strip()
    return message


def sections(strip: Any) -> list[tuple[str, str, str]]:
    """(heading, text, icon) for every part of a shot's details that has something to say."""
    shot = strip.shotcaller
    status = shot.bl_rna.properties["status"].enum_items[shot.status].name
    found = [("Status", f"{strip.name}: {status}", "INFO"), ("Message", message_without_hint(shot), "TEXT")]
    found.append(("What to do", shot.hint, "QUESTION"))
    found.append(("Went to", shot.backend_used, "NETWORK_DRIVE"))
    found.append(("Why there", shot.routing_reason, "FORWARD"))
    if 0 <= shot.active_take < len(shot.takes):
        take = shot.takes[shot.active_take]
        found.append(
            (
                f"Take {shot.active_take + 1} in the edit",
                f"{take.backend}, {take.template}, seed {take.seed}",
                "FILE_MOVIE",
            )
        )
    return [section for section in found if section[1]]


def alternatives(strip: Any) -> list[tuple[str, str]]:
    """(label, reason) for every candidate the router considered: the ones it could use first, ranked."""
    notes = parse_candidates(strip.shotcaller.candidates)
    notes.sort(key=lambda note: not note["accepted"])
    return [(("accepted: " if n["accepted"] else "rejected: ") + n["label"], n["reason"]) for n in notes]


def details_lines(strip: Any) -> list[str]:
    """The popup's text as plain lines (for reports and logs)."""
    lines = [f"{heading}: {text}" for heading, text, _ in sections(strip)]
    lines += [f"{label}: {reason}" for label, reason in alternatives(strip)]
    return lines


def draw_details(layout: Any, strip: Any, width: int) -> None:
    for heading, text, icon in sections(strip):
        layout.label(text=heading, icon=icon)
        wrapped(layout.box(), text, width - ICON_CHARS)
    found = alternatives(strip)
    if found:
        layout.label(text=f"Alternatives considered ({len(found)})", icon="OUTLINER")
        box = layout.box()
        for label, reason in found:
            wrapped(box, label, width - ICON_CHARS, icon="CHECKMARK" if label.startswith("accepted") else "X")
            wrapped(box, reason, width - ICON_CHARS, icon="BLANK1")
