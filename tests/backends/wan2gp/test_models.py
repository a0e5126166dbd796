"""Wan2GP models: the built-in table against the captured schemas, and a server's schema over it."""

from __future__ import annotations

import pytest

from shotcaller.backends.wan2gp.models import MODELS, ModelLimits

# The compact schema metadata Wan2GP 12.60 answered (capture 13_get_model_schema_ti2v_2_2).
TI2V_SCHEMA = {
    "model_type": "ti2v_2_2", "name": "Wan2.2 TextImage2video 5B", "main_output": ["video"],
    "media_inputs": {"image": {"start": True, "end": False}, "video": {"continue": True}},
    "fps": 24, "frames_minimum": 5, "frames_steps": 4, "sliding_window": True, "frames_maximum": 121,
}  # fmt: skip


@pytest.mark.parametrize(
    ("model_type", "fps", "maximum", "start_image"),
    [("t2v_1.3B", 16, 97, False), ("t2v_2_2", 16, 97, False), ("ti2v_2_2", 24, 121, True), ("i2v_2_2", 16, 97, True)],
)
def test_model_table_matches_the_captured_schemas(model_type, fps, maximum, start_image):
    model = MODELS[model_type]
    assert (model.fps, model.frames_minimum, model.frames_steps, model.frames_maximum) == (fps, 5, 4, maximum)
    assert model.takes_start_image is start_image


def test_server_schema_wins_over_the_table_and_garbage_falls_back():
    odd = {**TI2V_SCHEMA, "fps": 30, "frames_maximum": 201, "media_inputs": {"image": {"start": False}}}
    limits = ModelLimits.from_schema(MODELS["ti2v_2_2"], odd)
    assert (limits.fps, limits.frames_maximum, limits.takes_start_image) == (30.0, 201, False)
    garbage = {"fps": "fast", "frames_minimum": -3, "frames_steps": True, "frames_maximum": None, "name": ""}
    limits = ModelLimits.from_schema(MODELS["t2v_2_2"], garbage)
    assert (limits.fps, limits.frames_minimum, limits.frames_steps, limits.frames_maximum) == (16.0, 5, 4, 97)
    assert limits.name == "Wan2.2 Text2video 14B"
