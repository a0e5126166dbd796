"""The progress bar's weights: sampler steps count as units, through the bundled templates and on the
reference server's two-sampler final video."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from comfyui_doubles import WAN, Recorder
from comfyui_reference import reference_backend, shot_request, step_fractions

from shotcaller.backends.comfyui import ComfyUIBackend
from shotcaller.shots import MediaKind, Quality


def test_progress_weights_count_sampler_steps(refused_url: str):
    from shotcaller.backends.comfyui.progress import NodeProgress, expected_weights

    templates = ComfyUIBackend("local", refused_url).templates
    heavy = {
        name: {n: w for n, w in expected_weights(t.workflow_copy()).items() if w > 1} for name, t in templates.items()
    }
    assert heavy == {
        WAN: {"3": 20},
        "wan22_ti2v_5b_i2v": {"3": 20},
        "sdxl_base_t2i": {"3": 20},
        "wan22_14b_t2v": {"57": 10, "58": 10},
        "wan22_14b_i2v": {"57": 10, "58": 10},
        "flux1_dev_t2i": {"13": 20},  # SamplerCustomAdvanced: the steps of its BasicScheduler
        "stable_audio_open_t2a": {"3": 50},
        "ace_step_v1_t2m": {"52": 50},
    }
    template = templates[WAN]
    tracker = NodeProgress(template.node_classes, expected_weights(template.workflow_copy()))
    others = len(template.node_classes) - 1  # 10 one-unit nodes around a 20-step sampler
    tracker.cached(n for n in template.node_classes if n not in ("3", "8", "57", "58"))
    before = tracker.fraction
    tracker.step("3", 1, 20)
    assert tracker.fraction - before == pytest.approx(1 / (others + 20))  # one step is one unit
    tracker.step("3", 20, 20)
    tracker.state({"8": {"state": "finished"}, "57": {"state": "finished"}, "58": {"state": "finished"}})
    assert tracker.fraction == pytest.approx(1.0)
    # A node that reports more steps than expected counts them from then on.
    unknown = NodeProgress({"1": "MyCustomSampler", "2": "SaveImage"})
    unknown.step("1", 5, 10)
    assert unknown.weight("1") == 10 and unknown.fraction == pytest.approx(5 / 11)


def test_final_video_progress_moves_evenly_through_both_samplers(reference, tmp_path: Path):
    av = pytest.importorskip("av")
    report = Recorder()
    request = shot_request(tmp_path, "wan22_14b_t2v", MediaKind.VIDEO, Quality.FINAL, seed=11)
    result = reference_backend(reference).run(request, report, threading.Event())
    with av.open(result.files[0]) as container:
        assert sum(1 for _ in container.decode(video=0)) == 9
    high, low = step_fractions(report, "57"), step_fractions(report, "58")
    assert len(high) == len(low) == 10
    steps = [b - a for a, b in zip(high + low, (high + low)[1:], strict=False)]
    # Every sampler step moves the bar by about one unit of the graph's 34 (20 steps + 14 nodes).
    unit = (0.95 - 0.05) / 34
    assert all(0 < step < 3 * unit for step in steps), steps
    assert report.fractions == sorted(report.fractions) and report.fractions[-1] == 1.0
