"""Segmented shots: consecutive runs continuing each other, progress over the whole shot, cancel, resume.

The scheduler-level rules run against a scripted backend; continuity is checked against the
reference ComfyUI server (its image to video really starts from the given image), frame by frame.
"""

import itertools
import threading
from dataclasses import replace

import av
import numpy as np
import pytest

from backend_doubles import ScriptedBackend
from devservers.comfyui.launch import start_server
from devservers.comfyui.testing import Client
from session_events import events_until_done as run_to_end
from shotcaller.backends.base import GenerationRequest, Offer, ProtocolError
from shotcaller.backends.comfyui.backend import ComfyUIBackend
from shotcaller.jobs.events import JobFailed, JobProgress, JobSucceeded
from shotcaller.jobs.scheduler import Scheduler
from shotcaller.jobs.segmented import run_segments
from shotcaller.routing.segments import plan_for
from shotcaller.shots import MediaKind, Quality, make_spec

T2V = Offer(
    "t2v", MediaKind.VIDEO, Quality.DRAFT, label="test t2v", model="Test Wan", max_frames=33, frames_step=4,
    family="test", continue_with="i2v",
)  # fmt: skip
I2V = replace(T2V, name="i2v", label="test i2v", needs_init_image=True)


def spec(**overrides):
    fields = {"shot_id": "longshot0001", "label": "Long", "prompt": "a lighthouse at dusk", "fps": 8}
    fields.update(overrides)
    return make_spec(**fields)


def test_segments_run_in_order_each_from_the_last_frame_before(tmp_path):
    backend = ScriptedBackend("gpu-1", [I2V, T2V])
    scheduler = Scheduler([backend])
    try:
        events = run_to_end(scheduler, scheduler.submit(spec(frame_count=80), str(tmp_path), "take"))
    finally:
        scheduler.shutdown()
    done = events[-1]
    assert isinstance(done, JobSucceeded), events
    assert [c.offer.name for c in backend.calls] == ["t2v", "i2v", "i2v"]  # 80 frames: 3 of 29
    assert [c.spec.frame_count for c in backend.calls] == [29, 29, 29]
    assert backend.calls[0].spec.init_image is None
    for before, after in itertools.pairwise(backend.calls):  # each starts from the last frame before
        assert after.spec.init_image and after.spec.init_image.endswith(f"{before.file_stem}_last.png")
    assert [c.last_frame for c in backend.calls] == [True, True, False]
    segments = done.take.parameters["segments"]
    assert [s["skip_first"] for s in segments] == [0, 1, 1] and sum(s["keep"] for s in segments) == 80
    assert len(done.take.files) == 3 and done.take.parameters["frame_count"] == 80
    assert done.take.routing_reason.startswith("3 segments of 29 frames with Test Wan on scripted gpu-1")
    fractions = [e.fraction for e in events if isinstance(e, JobProgress)]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)  # over the whole shot
    assert any("segment 3 of 3" in e.message for e in events if isinstance(e, JobProgress))


def test_a_failed_segment_keeps_the_ones_before_and_a_retry_resumes_there(tmp_path):
    backend = ScriptedBackend("gpu-1", [I2V, T2V], errors=[None, ProtocolError("the server fell over")])
    scheduler = Scheduler([backend])
    try:
        failed = run_to_end(scheduler, scheduler.submit(spec(frame_count=80), str(tmp_path), "take1"))[-1]
        assert isinstance(failed, JobFailed)
        assert "segment 2 of 3" in failed.message
        assert "segment 1 is kept and a retry starts at segment 2" in failed.message
        assert len(backend.calls) == 2
        first = backend.calls[0]
        retried = run_to_end(scheduler, scheduler.submit(spec(frame_count=80), str(tmp_path), "take2"))
    finally:
        scheduler.shutdown()
    assert isinstance(retried[-1], JobSucceeded), retried
    assert [c.offer.name for c in backend.calls[2:]] == ["i2v", "i2v"]  # segment 1 was not made again
    assert retried[-1].take.files[0].endswith(f"{first.file_stem}.mp4")
    assert any("segment 1 of 3 kept from before" in e.message for e in retried if isinstance(e, JobProgress))


def test_cancel_stops_the_segments_not_yet_made(tmp_path):
    gate = threading.Event()
    backend = ScriptedBackend("gpu-1", [I2V, T2V], block=gate)
    scheduler = Scheduler([backend])
    try:
        job_id = scheduler.submit(spec(frame_count=80), str(tmp_path), "take")
        while not backend.calls:
            scheduler.events.get(timeout=5)
        scheduler.cancel(job_id)
        events = run_to_end(scheduler, job_id)
    finally:
        gate.set()
        scheduler.shutdown()
    assert events[-1].kind == "cancelled" and len(backend.calls) == 1


def decode(path):
    with av.open(path) as container:
        return [frame.to_ndarray(format="rgb24").astype(np.int16) for frame in container.decode(video=0)]


def difference(a, b):
    return float(np.abs(a - b).mean())


def joined_frames(take):
    frames = []
    for segment in take.parameters["segments"]:
        decoded = decode(segment["file"])
        assert len(decoded) == segment["frames"]
        frames += decoded[segment["skip_first"] : segment["skip_first"] + segment["keep"]]
    return frames


def test_reference_comfyui_continues_each_segment_from_the_last_frame(tmp_path):
    """A 10 s shot at 24 fps on the bundled Wan 2.2 TI2V 5B: 2 segments of 121 frames, one take of 240."""
    with start_server(tmp_path / "server") as server:
        backend = ComfyUIBackend("gpu-1", server.url)
        offers = {o.name: o for o in backend.offers()}
        shot = spec(fps=24, frame_count=240, width=64, height=64)
        offer = offers["wan22_ti2v_5b_t2v"]
        plan = plan_for(offer, 240, 24)
        assert plan is not None and plan.lengths == (121, 121)
        request = GenerationRequest(shot, offer, str(tmp_path / "takes"), "take")
        client = Client(server.url)
        # Segment 2 fails once (the server's next prompt errors): segment 1 stays, the retry resumes.
        armed = []

        def fail_segment_two(progress):
            if progress.message.startswith("segment 2 of 2") and not armed:
                armed.append(client.post_json("/reference/fail-next", {"mode": "error"}))

        with pytest.raises(Exception, match="segment 2 of 2"):
            run_segments(backend, request, plan, offers[offer.continue_with], fail_segment_two, _never())
        messages = []
        result = run_segments(
            backend, request, plan, offers[offer.continue_with], lambda p: messages.append(p.message), _never()
        )
    assert "segment 1 of 2 kept from before" in messages
    take_like = type("Take", (), {"parameters": result.parameters})
    frames = joined_frames(take_like)
    assert len(frames) == 240  # exactly the shot's frames
    first, second = decode(result.files[0]), decode(result.files[1])
    # The image to video segment starts on the last frame before (only the codec differs)...
    assert difference(second[0], first[-1]) < 3.0
    # ...which the take shows once: the joint goes from that frame to the next new one.
    assert difference(frames[120], first[-1]) < 1e-9 and difference(frames[121], second[1]) < 1e-9
    steps = [difference(a, b) for a, b in itertools.pairwise(frames)]
    joint = steps[120]
    assert joint <= max(steps[:120]) and joint <= max(steps[121:])  # no jump at the joint


def _never():
    return threading.Event()


def test_sound_parts_are_independent_runs_joined_by_a_crossfade(tmp_path):
    music = Offer("ace", MediaKind.MUSIC, Quality.DRAFT, label="test music", model="Test Music", max_seconds=10.0)
    backend = ScriptedBackend("gpu-1", [music])
    scheduler = Scheduler([backend])
    try:
        shot = spec(media="music", frame_count=8 * 25)  # 25 s at 8 fps
        events = run_to_end(scheduler, scheduler.submit(shot, str(tmp_path), "take"))
    finally:
        scheduler.shutdown()
    done = events[-1]
    assert isinstance(done, JobSucceeded), events
    assert [c.spec.frame_count for c in backend.calls] == [78, 78, 78]  # 3 parts of 9.75 s, 2 s crossfades
    assert [c.spec.init_image for c in backend.calls] == [None] * 3 and not any(c.last_frame for c in backend.calls)
    segments = done.take.parameters["segments"]
    assert [s["crossfade"] for s in segments] == [0, 16, 16] and [s["skip_first"] for s in segments] == [0, 0, 0]
    assert sum(s["keep"] for s in segments) == 200


def test_failover_of_a_segment_keeps_to_the_model_family(tmp_path):
    other_t2v = replace(T2V, name="o_t2v", model="Other Wan", family="other", continue_with="o_i2v")
    other_i2v = replace(other_t2v, name="o_i2v", needs_init_image=True)
    failing = ScriptedBackend("gpu-1", [I2V, T2V], errors=[None, ProtocolError("the server fell over")])
    other = ScriptedBackend("gpu-2", [other_i2v, other_t2v])  # first in line, but another family
    same = ScriptedBackend("gpu-3", [I2V, T2V])
    scheduler = Scheduler([failing, other, same])
    try:
        events = run_to_end(scheduler, scheduler.submit(spec(frame_count=80), str(tmp_path), "take"))
    finally:
        scheduler.shutdown()
    assert isinstance(events[-1], JobSucceeded), events
    assert other.calls == [] and [c.offer.name for c in same.calls] == ["i2v", "i2v"]  # resumed at segment 2
    assert events[-1].take.parameters["segments"][0]["instance"] == "gpu-1"
