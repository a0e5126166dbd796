"""Joining a message and its hint as sentences: "X failed. Do Y." rather than "X failed Do Y"."""

from __future__ import annotations

_ENDS = (".", "!", "?", ":", ";")


def join_sentences(*parts: str) -> str:
    """The non-empty parts, each ended with a full stop unless it already ends a sentence."""
    texts = [part.strip() for part in parts if part and part.strip()]
    # The last part is left as it is: a hint ends itself, and a lone message keeps its own form.
    return " ".join(text if text.endswith(_ENDS) or last else f"{text}." for last, text in _mark_last(texts))


def _mark_last(texts: list[str]) -> list[tuple[bool, str]]:
    return [(index == len(texts) - 1, text) for index, text in enumerate(texts)]
