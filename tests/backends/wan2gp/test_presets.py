"""Wan2GP presets: the model per quality and VRAM, and the offers they make for the router."""

from __future__ import annotations

import pytest

from shotcaller.backends.wan2gp import Wan2GPBackend, Wan2GPPreset
from shotcaller.backends.wan2gp.presets import PRESETS, choose_presets, max_shot_frames
from shotcaller.shots import Quality, make_spec


def spec(**fields):
    fields.setdefault("shot_id", "shot-0001")
    fields.setdefault("prompt", "a lighthouse at dusk")
    return make_spec(**fields)


@pytest.mark.parametrize(
    ("vram", "draft", "final"),
    [
        (None, "wan2gp_draft_5b", "wan2gp_final_14b"),  # unknown memory: the best tiers
        (24.0, "wan2gp_draft_5b", "wan2gp_final_14b"),
        (12.0, "wan2gp_draft_5b", "wan2gp_final_14b"),
        (8.0, "wan2gp_draft_5b", "wan2gp_final_5b"),
        (6.0, "wan2gp_draft_5b", "wan2gp_final_5b"),
        (4.0, "wan2gp_draft_1_3b", "wan2gp_final_1_3b"),
    ],
)
def test_model_by_quality_and_vram(vram, draft, final):
    chosen = {p.quality: p.name for p in choose_presets(vram)}
    assert chosen == {Quality.DRAFT: draft, Quality.FINAL: final}


def test_presets_pick_the_image_model_when_the_shot_has_an_init_image():
    final = PRESETS["wan2gp_final_14b"]
    assert final.model_for(spec()).model_type == "t2v_2_2"
    assert final.model_for(spec(init_image="/tmp/start.png")).model_type == "i2v_2_2"
    assert PRESETS["wan2gp_draft_5b"].model_for(spec(init_image="/tmp/start.png")).model_type == "ti2v_2_2"
    assert PRESETS["wan2gp_draft_1_3b"].model_for(spec(init_image="/tmp/start.png")).model_type == "t2v_1.3B"


def test_offers_carry_vram_and_length_for_the_router():
    offers = {o.name: o for o in Wan2GPBackend("w", "http://127.0.0.1:9/mcp/").offers()}
    assert set(offers) == {"wan2gp_draft_5b", "wan2gp_final_14b"}
    draft, final = offers["wan2gp_draft_5b"], offers["wan2gp_final_14b"]
    assert draft.quality is Quality.DRAFT and final.quality is Quality.FINAL
    assert final.model == "Wan2.2 Text2video 14B / Wan2.2 Image2video 14B"
    assert not draft.needs_init_image and not final.needs_init_image
    assert draft.max_frames == 121 and final.max_frames == 145  # 121 at 24 fps; 97 at 16 fps = 6.06 s of 24 fps
    assert max_shot_frames(PRESETS["wan2gp_final_14b"], 16) == 97
    assert final.estimate_vram_gb(1280, 720, 81) > final.estimate_vram_gb(832, 480, 49) > final.vram_gb
    small = {o.name for o in Wan2GPBackend("w", "http://127.0.0.1:9/mcp/", vram_gb=8).offers()}
    assert small == {"wan2gp_draft_5b", "wan2gp_final_5b"}
    pinned = Wan2GPBackend("w", "http://127.0.0.1:9/mcp/", presets=["wan2gp_final_1_3b"])
    assert [o.name for o in pinned.offers()] == ["wan2gp_final_1_3b"]
    assert pinned.max_concurrent == 1
    with pytest.raises(ValueError, match="unknown Wan2GP preset"):
        Wan2GPBackend("w", "http://127.0.0.1:9/mcp/", presets=["nope"])
    custom = Wan2GPPreset("ltx", "LTX", Quality.DRAFT, "ltx2_22B_distilled", None, steps=8)
    with pytest.raises(ValueError, match="uses ltx2_22B_distilled"):
        Wan2GPBackend("w", "http://127.0.0.1:9/mcp/", presets=[custom])
