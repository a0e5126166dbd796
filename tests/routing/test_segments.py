"""Planning long shots: segment counts and lengths on each model's frame lattice, overlaps, messages in seconds."""

from dataclasses import replace

import pytest

from backend_doubles import ScriptedBackend
from shotcaller.backends.base import Offer
from shotcaller.routing.registry import view_of
from shotcaller.routing.router import Router
from shotcaller.routing.segments import plan_for, plan_frames, seconds_text
from shotcaller.shots import MediaKind, Quality, make_spec

T2V = Offer(
    "wan22_ti2v_5b_t2v", MediaKind.VIDEO, Quality.DRAFT, label="Wan 2.2 TI2V 5B text to video",
    model="Wan 2.2 TI2V 5B", max_frames=121, frames_minimum=1, frames_step=4, family="wan22_ti2v_5b",
    continue_with="wan22_ti2v_5b_i2v",
)  # fmt: skip
I2V = replace(
    T2V, name="wan22_ti2v_5b_i2v", label="Wan 2.2 TI2V 5B image to video", needs_init_image=True,
    continue_with="wan22_ti2v_5b_i2v",
)  # fmt: skip


@pytest.mark.parametrize(
    ("frames", "maximum", "minimum", "step", "lengths"),
    [
        (240, 121, 1, 4, (121, 121)),  # 10 s at 24 fps: 121 + 120 = 241 frames, the last one cut
        (720, 121, 1, 4, (121,) * 6),  # 30 s at 24 fps
        (130, 121, 1, 4, (69, 69)),  # the shortest equal length that covers it, not 121 + 9
        (200, 81, 1, 4, (69, 69, 69)),
        (1440, 121, 1, 4, (121,) * 12),  # 60 s: 121 + 11 * 120 = 1441 frames
        (300, 97, 5, 4, (77, 77, 77, 77)),  # Wan2GP's lattice: 5 + 4k
        (121, 121, 1, 4, (121,)),  # fits in one run: no segments
    ],
)
def test_lengths_lie_on_the_lattice_and_cover_the_shot_exactly(frames, maximum, minimum, step, lengths):
    plan = plan_frames(frames, maximum, minimum=minimum, step=step)
    assert plan.lengths == lengths
    assert all(length <= maximum and (length - minimum) % step == 0 for length in plan.lengths)
    assert sum(plan.keep) == frames  # the take covers exactly the shot
    if plan.count > 1:
        assert plan.keep[1:-1] == tuple(length - 1 for length in plan.lengths[1:-1])  # each later one loses 1 frame
        assert 0 < plan.keep[-1] <= plan.lengths[-1] - 1
        assert plan.starts == tuple(sum(plan.keep[:i]) for i in range(plan.count))


def test_plan_names_itself_and_the_offer_decides_how():
    plan = plan_for(T2V, 240, 24.0)
    assert plan is not None and plan.segmented and plan.describe() == "2 segments of 121 frames"
    assert plan_for(replace(T2V, continue_with=""), 240, 24.0) is None  # cannot continue: cannot make it
    windows = plan_for(replace(T2V, continue_with="", sliding_window=True), 240, 24.0)
    assert windows is not None and windows.mode == "windows" and not windows.segmented
    assert windows.describe() == "2 windows of 121 frames"


def test_lengths_are_said_in_seconds_with_frames_in_brackets():
    assert seconds_text(121, 24) == "5.0 s (121 frames at 24 fps)"
    assert seconds_text(1, 25) == "0.0 s (1 frame at 25 fps)"


def shot(**fields):
    base = {"shot_id": "longshot01", "prompt": "a lighthouse", "fps": 24, "frame_count": 240}
    return make_spec(**{**base, **fields})


def test_router_names_the_plan_in_one_reason():
    backend = ScriptedBackend("gpu-1", [I2V, T2V])
    decision = Router().route(shot(), [view_of(backend, kind="comfyui")])
    assert decision.chosen is not None and decision.chosen.offer.name == T2V.name
    assert decision.explanation.startswith("2 segments of 121 frames with Wan 2.2 TI2V 5B on ComfyUI gpu-1: ")


def test_a_shot_nothing_can_make_says_why_in_seconds_and_what_would_help():
    alone = replace(T2V, continue_with="")  # a server without the image to video template
    backend = ScriptedBackend("gpu-1", [alone, replace(I2V, name="other_i2v", continue_with="")])
    decision = Router().route(shot(), [view_of(backend, kind="comfyui")])
    assert decision.chosen is None
    text = decision.explanation
    assert "makes at most 5.0 s (121 frames at 24 fps) and the shot lasts 10.0 s (240 frames)" in text
    assert "init image" not in text  # the image-to-video offer does not bear on it: details only
    assert "at most 5.0 s (121 frames at 24 fps) long" in text and "image to video template" in text
    assert any("init image" in v.reason for v in decision.verdicts)


def test_continuation_missing_on_the_server_is_said():
    backend = ScriptedBackend("gpu-1", [T2V])  # names an i2v template the server lacks
    decision = Router().route(shot(), [view_of(backend, kind="comfyui")])
    assert decision.chosen is None and "would continue it is not there" in decision.explanation


def test_sound_longer_than_the_model_makes_is_planned_in_parts_before_it_runs():
    audio = Offer("stable_audio", MediaKind.AUDIO, Quality.DRAFT, label="Stable Audio Open", max_seconds=47.0)
    music = Offer("ace_step", MediaKind.MUSIC, Quality.FINAL, label="ACE-Step", max_seconds=240.0)
    sound = plan_for(audio, 60 * 24, 24.0)  # 60 s of sound: two butted parts of 30 s
    assert sound is not None and sound.mode == "parts" and sound.lengths == (720, 720) and sound.overlap == 0
    assert sound.keep == (720, 720) and sound.describe() == "2 parts of 30.0 s"
    cue = plan_for(music, 5 * 60 * 24, 24.0)  # a 5-minute cue: two parts crossfaded over 2 s
    assert cue is not None and cue.overlap == 48 and cue.lengths == (3624, 3624)
    assert sum(cue.keep) == 7200 and cue.describe() == "2 parts of 151.0 s, crossfaded over 2.0 s"
    assert plan_for(audio, 47 * 24, 24.0).count == 1  # fits: one run
    backend = ScriptedBackend("gpu-1", [audio])
    decision = Router().route(shot(media="audio", frame_count=60 * 24), [view_of(backend, kind="comfyui")])
    assert decision.explanation.startswith("2 parts of 30.0 s with Stable Audio Open on ComfyUI gpu-1: ")
