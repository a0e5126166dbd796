"""Writing tools on a language model behind LiteLLM: prompt enhancement and script to shot list.

Core only (no bpy). The UI calls these from a worker thread and applies the result on the main
thread:

    new_prompt = enhance_prompt(client, "gpt-4o-mini", shot.prompt, "Wan 2.2 TI2V 5B", media="video")
    drafts = script_to_shots(client, "gpt-4o-mini", script_text, fps=24)   # list[ShotDraft]

Both raise the typed errors of backends/base.py: the client's (unreachable, unauthorized, busy,
context window exceeded, ...) or WritingError when the model's answer is unusable.
"""

from .common import ChatClient, WritingError, extract_json
from .enhance import clean_prompt, enhance_prompt
from .script import ShotDraft, parse_shot_list, script_to_shots, timeline

__all__ = [
    "ChatClient",
    "ShotDraft",
    "WritingError",
    "clean_prompt",
    "enhance_prompt",
    "extract_json",
    "parse_shot_list",
    "script_to_shots",
    "timeline",
]
