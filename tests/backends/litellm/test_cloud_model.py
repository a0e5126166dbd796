"""The configured LiteLLM models: their settings validated, and a shot's size and length fitted to them."""

from __future__ import annotations

import pytest

from shotcaller.backends.base import InvalidRequest
from shotcaller.backends.litellm.cloud_model import (
    CloudModel,
    choose_seconds,
    choose_size,
    cloud_models,
    stated_seconds,
)
from shotcaller.shots import MediaKind


def test_model_settings_are_validated():
    with pytest.raises(InvalidRequest) as caught:
        cloud_models([{"name": "x", "media": "music"}])
    assert "model #1 (x)" in caught.value.message and "images or videos" in caught.value.message
    with pytest.raises(InvalidRequest):
        cloud_models([{"name": "x", "media": "video", "sizes": ["big"]}])
    assert cloud_models([CloudModel(name="y", media=MediaKind.IMAGE)])[0].name == "y"


def test_size_and_length_choices():
    assert choose_size(832, 480, []) == "832x480"
    assert choose_size(832, 480, ["720x1280", "1280x720"]) == "1280x720"
    assert choose_size(480, 832, ["720x1280", "1280x720"]) == "720x1280"
    assert choose_size(1024, 1024, ["1024x1024", "1536x1024", "1024x1536"]) == "1024x1024"
    assert choose_seconds(2.04, [4, 8, 12]) == 4
    assert choose_seconds(4.0, [4, 8, 12]) == 4
    assert choose_seconds(9, [4, 8, 12]) == 12
    assert choose_seconds(30, [4, 8, 12]) == 12
    assert choose_seconds(2.5, []) == 3


def test_stated_video_lengths_are_read_from_a_providers_refusal():
    message = "Invalid value: '1'. Supported values are: '4', '8', '12'."
    assert stated_seconds(message) == (4, 8, 12)
    assert stated_seconds("Invalid value: 'abc'.") == ()
