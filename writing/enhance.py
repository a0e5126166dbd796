"""Enhance prompt: rewrite a shot's prompt for the model its route will use."""

from __future__ import annotations

import re

from ..backends.litellm.client import ChatAnswer
from .common import ChatClient, WritingError
from .prompts import ENHANCE_NEGATIVE, ENHANCE_SYSTEM, ENHANCE_USER

_LABEL = re.compile(
    r"^(?:\*\*)?(?:enhanced|improved|rewritten|new|final)?\s*prompt(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.IGNORECASE
)
_FENCED = re.compile(r"^```[A-Za-z]*\s*\n?(.*?)\n?```$", re.DOTALL)
_QUOTES = ('"', "'", "\u201c", "\u201d", "\u2018", "\u2019", "`")


def enhance_prompt(
    client: ChatClient,
    model: str,
    prompt: str,
    target_model: str,
    *,
    media: str = "video",
    negative_prompt: str = "",
    max_words: int = 120,
    temperature: float | None = 0.7,
    timeout: float | None = None,
) -> str:
    """The shot's prompt rewritten by `model` (a chat model on the proxy) for `target_model`
    (the image or video model the shot's route uses). Raises WritingError if the answer is empty."""
    if not prompt.strip():
        raise WritingError("the shot has no prompt to enhance", hint="Write what the shot should show first.")
    negative = ENHANCE_NEGATIVE.format(negative=negative_prompt.strip()) if negative_prompt.strip() else ""
    messages = [
        {
            "role": "system",
            "content": ENHANCE_SYSTEM.format(media=media, target=target_model or "video model", max_words=max_words),
        },
        {"role": "user", "content": ENHANCE_USER.format(prompt=prompt.strip(), negative=negative)},
    ]
    answer: ChatAnswer = client.chat(model, messages, temperature=temperature, timeout=timeout)
    new_prompt = clean_prompt(answer.content)
    if not new_prompt:
        raise WritingError(
            f"model '{model}' answered with an empty prompt",
            hint="Try again, or choose another writing model in the preferences.",
        )
    return new_prompt


def clean_prompt(text: str) -> str:
    """The prompt alone: no code fence, no "Enhanced prompt:" label, no surrounding quotes, one line."""
    text = (text or "").strip()
    fenced = _FENCED.match(text)
    if fenced:
        text = fenced.group(1).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and _LABEL.match(lines[0]) and not _LABEL.sub("", lines[0]).strip():
        lines = lines[1:]  # a label alone on its first line
    text = " ".join(line.strip() for line in lines)
    text = _LABEL.sub("", text).strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return " ".join(text.split())
