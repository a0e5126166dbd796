import pytest
from pydantic import ValidationError

from shotcaller.shots import MediaKind, Quality, ShotError, Take, make_spec


def test_blank_prompt_is_a_clear_shot_error():
    with pytest.raises(ShotError) as raised:
        make_spec(shot_id="a" * 32, label="Intro", prompt="   ")
    # Not "prompt: the prompt is empty": a message that names its field needs no field name before it.
    assert str(raised.value) == "shot 'Intro': the prompt is empty: write what the shot should show"
    with pytest.raises(ShotError) as raised:
        make_spec(shot_id="a" * 32, label="Intro", prompt="a door", width=4)
    assert str(raised.value).startswith("shot 'Intro': width: ")  # pydantic's own words do not name it


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


def test_closest_name_ignores_case_then_spelling_then_finds_a_part():
    from shotcaller.shots import closest_name

    names = ["Intro", "Street at night", "Door"]
    assert closest_name("intro", names) == "Intro"
    assert closest_name("01 Intro", names) == "Intro"
    assert closest_name("Stret at nite", names) == "Street at night"
    assert closest_name("Street", names) == "Street at night"
    assert closest_name("Finale", names) is None
    assert closest_name("x", []) is None
