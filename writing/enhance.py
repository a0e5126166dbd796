"""Enhance prompt: rewrite a shot's prompt for the model its route will use."""

from __future__ import annotations

import re

from ..backends.base import BackendError
from ..backends.litellm.client import ChatAnswer
from .common import ChatClient, WritingError, writing_error
from .prompts import ENHANCE_NEGATIVE, ENHANCE_SYSTEM, ENHANCE_USER

_LABEL = re.compile(
    r"^(?:\*\*)?(?:the\s+)?(?:enhanced|improved|rewritten|new|final|revised|optimi[sz]ed)?\s*(?:video\s+|image\s+)?"
    r"prompt(?:\*\*)?\s*:\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)
# "Sure! Here's a rewritten version:", "Here is the enhanced prompt:", "Certainly. Below is ...:": a
# preamble is a short opening that ends with a colon before the prompt itself.
_PREAMBLE = re.compile(
    r"^(?:(?:sure|certainly|of course|okay|ok|absolutely|great|alright)\b[!.,]?\s*)?"
    r"(?:here(?:'s|\u2019s| is| are)|below is|i(?:'ve| have) (?:rewritten|enhanced|improved))\b[^:\n]{0,80}:\s*",
    re.IGNORECASE,
)
_COURTESY = re.compile(r"^(?:sure|certainly|of course|okay|ok|absolutely|great|alright)\b[!.,]?\s*$", re.IGNORECASE)
# A closing remark after the prompt: "This version adds ...", "Let me know if ...".
_AFTERWORD = re.compile(
    r"^(?:note|this (?:prompt|version|rewrite)|i (?:added|kept|have|'ve)|let me know|feel free|hope this)\b",
    re.IGNORECASE,
)
_FENCED = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)\n?[ \t]*```", re.DOTALL)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.):]|[-*\u2022]|(?:shot|scene|prompt|option)\s*\d+\s*[:.)-])\s*\S", re.IGNORECASE)
_QUOTES = ('"', "'", "\u201c", "\u201d", "\u2018", "\u2019", "`")


class NotOnePrompt(ValueError):
    """The model answered with something else than one prompt (a list of shots, several options)."""


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
    try:
        answer: ChatAnswer = client.chat(model, messages, temperature=temperature, timeout=timeout)
    except WritingError:
        raise
    except BackendError as exc:
        raise writing_error(exc, "Enhance Prompt") from None
    try:
        new_prompt = clean_prompt(answer.content)
    except NotOnePrompt as exc:
        raise WritingError(
            f"model '{model}' did not answer with one prompt: {exc}",
            hint="The shot's prompt is unchanged. Press Enhance Prompt again, or choose another writing model"
            " in the preferences; to turn a script into several shots, use Script to Shots.",
        ) from None
    if not new_prompt:
        raise WritingError(
            f"model '{model}' answered with an empty prompt",
            hint="Try again, or choose another writing model in the preferences.",
        )
    return new_prompt


def clean_prompt(text: str) -> str:
    """The prompt alone: no preamble ("Here is the enhanced prompt:"), code fence, label, closing remark
    or surrounding quotes, on one line. NotOnePrompt if the answer is a list or several options."""
    text = (text or "").strip()
    fences = _FENCED.findall(text)
    if len(fences) > 1:
        raise NotOnePrompt(f"it gave {len(fences)} blocks of text")
    if fences:
        text = fences[0].strip()  # what is around a single fenced block is the model talking
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    while lines and (_COURTESY.match(lines[0]) or _whole_preamble(lines[0])):
        lines = lines[1:]  # "Sure!" or "Here is the enhanced prompt:" alone on its first line
    if lines:
        lines[0] = _PREAMBLE.sub("", lines[0], count=1).strip()
    while len(lines) > 1 and _AFTERWORD.match(lines[-1]):
        lines = lines[:-1]
    items = sum(1 for line in lines if _LIST_ITEM.match(line))
    if items >= 2:
        raise NotOnePrompt(f"it gave a list of {items} items (a shot list or several options)")
    text = " ".join(lines)
    text = _LABEL.sub("", text).strip()
    if text.startswith("**") and text.endswith("**"):
        text = text[2:-2].strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return " ".join(text.split())


def _whole_preamble(line: str) -> bool:
    """A line that is nothing but a preamble or a label ("Here's a rewritten version:", "Prompt:")."""
    for pattern in (_PREAMBLE, _LABEL):
        found = pattern.match(line)
        if found and not line[found.end() :].strip():
            return True
    return False
