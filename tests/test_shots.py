import pytest
from pydantic import ValidationError

from shotcaller.shots import MediaKind, Quality, ShotError, Take, make_spec


def test_blank_prompt_is_a_clear_shot_error():
    with pytest.raises(ShotError, match="prompt is empty"):
        make_spec(shot_id="a" * 32, label="Intro", prompt="   ")


def test_spec_is_frozen_and_trims_prompt():
    spec = make_spec(shot_id="a" * 32, prompt="  a red door ", quality="final", media="video")
    assert spec.prompt == "a red door"
    assert spec.quality is Quality.FINAL
    with pytest.raises(ValidationError):
        spec.prompt = "x"  # type: ignore[misc]


def test_take_requires_files():
    with pytest.raises(ValidationError):
        Take(
            shot_id="s", media=MediaKind.VIDEO, files=(), backend_kind="comfyui", backend_instance="local", template="t"
        )
