"""The LiteLLM proxy configuration the tests (and a developer) run: every chat model is a mock.

`build_config()` returns a dict; `write_config()` writes it as YAML (JSON is YAML, so no YAML
library is needed). Nothing in it reaches the internet:

* chat models answer with `mock_response` (the recorded offline config's models and error cases,
  plus writing-tool mocks: a valid shot list, an invalid one, an enhanced prompt);
* image, video and transcription models are `openai/...` deployments whose `api_base` is the
  OpenAI-compatible reference endpoint in devservers/openai_media, so the proxy forwards to it.
"""

from __future__ import annotations

import json
import os
from typing import Any

# A shot list as a model would write it: prose, then a fenced JSON block.
SHOT_LIST = {
    "shots": [
        {
            "name": "Harbour at dawn",
            "prompt": "Wide establishing shot of a fishing harbour at dawn, mist over the water, boats rocking",
            "negative_prompt": "text, watermark",
            "seconds": 3.0,
            "media": "video",
        },
        {
            "name": "Mara on the pier",
            "prompt": "Medium shot of Mara, a fisherwoman in a yellow raincoat, walking along the wooden pier",
            "negative_prompt": "",
            "seconds": 2.5,
            "media": "video",
        },
        {
            "name": "Title card",
            "prompt": "Hand-painted title card reading 'The Last Catch' on weathered wood",
            "seconds": 2,
            "media": "image",
        },
    ]
}
SHOT_LIST_ANSWER = "Here is the shot list for your script:\n\n```json\n" + json.dumps(SHOT_LIST, indent=2) + "\n```\n"
# JSON, but not a valid shot list: a shot without a prompt and a negative duration.
INVALID_SHOT_LIST_ANSWER = '```json\n{"shots": [{"name": "Opening", "seconds": -4, "media": "hologram"}]}\n```'
# Not JSON at all.
NOT_JSON_ANSWER = "Sure! The first shot shows the harbour, then Mara walks along the pier. Shall I go on?"
ENHANCED_PROMPT = (
    "Cinematic wide shot of a misty fishing harbour at dawn, soft golden light through low fog, wooden boats "
    "rocking gently on calm water, slow dolly forward, 35mm lens, shallow depth of field, muted teal and amber "
    "palette, photorealistic"
)
ENHANCED_PROMPT_ANSWER = f'Enhanced prompt:\n"{ENHANCED_PROMPT}"'
# How real chat models answered Enhance Prompt through the real proxy: a preamble and a fenced block,
# a courtesy and a colon, and a whole shot list where one prompt was asked for.
CHATTY_PROMPT_ANSWERS = {
    "prompt-writer-fenced": (
        f"Here is the enhanced prompt:\n\n```\n{ENHANCED_PROMPT}\n```\n\nThis version adds lens and light."
    ),
    "prompt-writer-sure": f"Sure! Here's a rewritten version: {ENHANCED_PROMPT}",
    "prompt-writer-shot-list": (
        "1. Wide shot of the harbour at dawn, mist over the water\n"
        "2. Medium shot of Mara walking along the pier\n"
        "3. Close-up of her hands coiling a rope"
    ),
}

MOCK_CHAT_MODELS: dict[str, dict[str, Any]] = {
    # From the recorded offline config (shared/protocols/litellm-offline-config.yaml).
    "gpt-4o-mini": {"model": "openai/gpt-4o-mini", "mock_response": "Hello from the LiteLLM mock (gpt-4o-mini)."},
    "claude-mock": {
        "model": "anthropic/claude-3-5-sonnet-20240620",
        "mock_response": "Hello from the LiteLLM mock (claude).",
    },
    "rate-limited": {"model": "openai/gpt-4o-mini", "mock_response": "litellm.RateLimitError"},
    "server-error": {"model": "openai/gpt-4o-mini", "mock_response": "litellm.InternalServerError"},
    "context-too-long": {"model": "openai/gpt-4o-mini", "mock_response": "litellm.ContextWindowExceededError"},
    "content-filter": {"model": "openai/gpt-4o-mini", "mock_response": "Exception: content_filter_policy"},
    "stream-error": {"model": "openai/gpt-4o-mini", "mock_response": "Exception: mock_streaming_error"},
    "slow-mock": {"model": "openai/gpt-4o-mini", "mock_response": "slow answer", "mock_delay": 3},
    # Writing tools.
    "shot-writer": {"model": "openai/gpt-4o-mini", "mock_response": SHOT_LIST_ANSWER},
    "shot-writer-invalid": {"model": "openai/gpt-4o-mini", "mock_response": INVALID_SHOT_LIST_ANSWER},
    "shot-writer-prose": {"model": "openai/gpt-4o-mini", "mock_response": NOT_JSON_ANSWER},
    "prompt-writer": {"model": "openai/gpt-4o-mini", "mock_response": ENHANCED_PROMPT_ANSWER},
    **{name: {"model": "openai/gpt-4o-mini", "mock_response": text} for name, text in CHATTY_PROMPT_ANSWERS.items()},
}

# model_name -> (provider model, mode): forwarded to the reference endpoint.
MEDIA_MODELS: dict[str, tuple[str, str]] = {
    "cloud-image": ("openai/gpt-image-1", "image_generation"),
    "cloud-image-url": ("openai/dall-e-3", "image_generation"),  # accepts response_format "url"
    "cloud-video": ("openai/sora-2", "video_generation"),
    "whisper": ("openai/whisper-1", "audio_transcription"),
}


def build_config(
    *,
    master_key: str,
    media_url: str | None = None,
    media_api_key: str = "sk-reference-media",
    num_retries: int | None = 0,
    slow_mock_delay: float = 3.0,
    extra_models: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A proxy config: mock chat models, media models at `media_url` (+ "/v1"), this master key.

    `num_retries` 0 makes mocked errors answer at once (the router's default 2 retries with backoff
    take 4-5 s per error); None leaves the proxy's own default, as a user's proxy would have it.
    Without `media_url` the media models are left out.
    """
    models: list[dict[str, Any]] = []
    for name, params in MOCK_CHAT_MODELS.items():
        litellm_params = {**params, "api_key": "dummy"}
        if name == "slow-mock":
            litellm_params["mock_delay"] = slow_mock_delay
        models.append({"model_name": name, "litellm_params": litellm_params})
    if media_url:
        api_base = media_url.rstrip("/") + "/v1"
        for name, (model, mode) in MEDIA_MODELS.items():
            models.append(
                {
                    "model_name": name,
                    "litellm_params": {"model": model, "api_base": api_base, "api_key": media_api_key},
                    "model_info": {"mode": mode},
                }
            )
    models.extend(extra_models or [])
    return {
        "model_list": models,
        "router_settings": {} if num_retries is None else {"num_retries": num_retries},
        "litellm_settings": {"request_timeout": 120},
        "general_settings": {"master_key": master_key},
    }


def write_config(path: str | os.PathLike[str], config: dict[str, Any]) -> str:
    """Write the config as YAML (in its JSON form) and return the path."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")
    return os.fspath(path)
