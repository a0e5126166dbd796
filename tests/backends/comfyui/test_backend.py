"""ComfyUIBackend end to end over loopback: offers from templates, one shot run as one prompt,
requests refused before anything is sent, and whole runs on the reference ComfyUI server.

The stub (comfyui_doubles.MiniComfy) scripts server behaviour that must be exact; the reference
server in devservers/comfyui runs the real templates.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from comfyui_doubles import (
    MP4_HEAD,
    PNG,
    WAN,
    MiniComfy,
    Recorder,
    image_request,
    invert_template,
    stub_backend,
    wan_request,
)
from comfyui_reference import reference_backend, server_json, shot_request

from shotcaller.backends.base import (
    BackendUnreachable,
    GenerationRequest,
    InvalidRequest,
    Offer,
    Progress,
    ProtocolError,
)
from shotcaller.backends.comfyui import ComfyUIBackend
from shotcaller.backends.comfyui.templates import BUNDLED_TEMPLATE_DIR
from shotcaller.shots import MediaKind, Quality, make_spec


def test_offers_come_from_templates_without_network(refused_url: str, tmp_path: Path):
    backend = ComfyUIBackend("local", refused_url, [BUNDLED_TEMPLATE_DIR, str(tmp_path / "missing")])
    [offer] = [o for o in backend.offers() if o.name == WAN]
    assert (offer.media, offer.quality, offer.model, offer.vram_gb) == (
        MediaKind.VIDEO,
        Quality.DRAFT,
        "Wan 2.2 TI2V 5B",
        8.0,
    )
    assert [os.path.basename(e.path) for e in backend.template_errors] == ["missing"]


def test_run_on_stub_reports_even_progress_previews_and_downloads(stub, tmp_path: Path):
    comfy = MiniComfy(stub)
    report = Recorder()
    result = stub_backend(stub).run(wan_request(tmp_path), report, threading.Event())
    assert result.files == (str(tmp_path / "sh010_take01.mp4"),)
    assert Path(result.files[0]).read_bytes() == MP4_HEAD + b"ComfyUI_00001_.mp4"
    assert result.server_job_id == comfy.prompt_id
    assert result.model == "Wan 2.2 TI2V 5B"
    assert result.parameters["template"] == WAN and result.parameters["server_url"] == stub.url
    assert result.parameters["frame_count"] == 9
    assert comfy.prompt["58"]["inputs"]["filename_prefix"] == "shotcaller/sh010_take01"
    fractions = report.fractions
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert report.updates[-1].message == "downloaded"
    assert any(p.preview_image == PNG for p in report.updates)
    # Sampler steps move the bar: three cached loaders, then node 3 at 1/4, 2/4, 4/4 of its share.
    firsts = {p.message: p for p in reversed(report.updates)}  # the first update of each message
    step_messages = sorted((p for m, p in firsts.items() if "step" in m), key=report.updates.index)
    assert [p.message.split()[-1] for p in step_messages] == ["1/4", "2/4", "4/4"]
    assert step_messages[0].fraction < step_messages[1].fraction < step_messages[2].fraction


def test_unknown_template_and_missing_init_image_are_invalid_requests(refused_url: str, tmp_path: Path):
    backend = ComfyUIBackend("local", refused_url, [BUNDLED_TEMPLATE_DIR, invert_template(tmp_path / "t")])
    request = wan_request(tmp_path)
    unknown = GenerationRequest(
        spec=request.spec,
        offer=Offer(name="nope", media=MediaKind.VIDEO, quality=Quality.DRAFT),
        output_dir=str(tmp_path),
        file_stem="x",
    )
    with pytest.raises(InvalidRequest, match="no template 'nope'"):
        backend.run(unknown, Recorder(), threading.Event())
    with pytest.raises(InvalidRequest, match="starts from an image and shot 'Lighthouse' has none"):
        backend.run(image_request(tmp_path), Recorder(), threading.Event())


def test_connection_refused_is_unreachable_with_the_url(refused_url: str, tmp_path: Path):
    backend = ComfyUIBackend("local", refused_url, [BUNDLED_TEMPLATE_DIR], timeout=2)
    with pytest.raises(BackendUnreachable) as caught:
        backend.run(wan_request(tmp_path), Recorder(), threading.Event())
    assert refused_url in str(caught.value)


def test_offers_carry_vram_init_image_and_frame_limits(refused_url: str):
    offers = ComfyUIBackend("local", refused_url).offers()  # bundled templates, no network
    by_name = {o.name: o for o in offers}
    assert set(by_name) == {
        WAN,
        "wan22_ti2v_5b_i2v",
        "wan22_14b_t2v",
        "wan22_14b_i2v",
        "sdxl_base_t2i",
        "flux1_dev_t2i",
        "stable_audio_open_t2a",
        "ace_step_v1_t2m",
    }
    # Templates that start from an init image come first: with equal scores the router keeps this
    # order, so a shot with an init image uses it (its init-image filter keeps the others off them).
    needs = [o.needs_init_image for o in offers]
    assert needs == sorted(needs, reverse=True) and needs.count(True) == 2
    wan = by_name[WAN]
    assert (wan.vram_gb, wan.vram_base_gb, wan.vram_per_megapixel_frame_gb, wan.max_frames) == (8.0, 8.0, 0.02, 121)
    assert wan.estimate_vram_gb(1280, 704, 121) == pytest.approx(8.0 + 0.02 * 0.90112 * 121)
    assert by_name["wan22_14b_i2v"].needs_init_image and by_name["wan22_14b_i2v"].quality is Quality.FINAL
    assert by_name["flux1_dev_t2i"].estimate_vram_gb(1024, 1024, 1) == pytest.approx(18.0 + 2.0 * 1.048576)
    sound = by_name["stable_audio_open_t2a"]
    assert (sound.media, sound.max_frames, sound.estimate_vram_gb(1920, 1080, 240)) == (MediaKind.AUDIO, 0, 5.0)
    assert by_name["ace_step_v1_t2m"].media is MediaKind.MUSIC
    # An Offer built by hand (other backends) still estimates from vram_gb alone.
    assert Offer("x", MediaKind.IMAGE, Quality.DRAFT, vram_gb=4.0).estimate_vram_gb(4000, 4000, 100) == 4.0


def test_broken_templates_are_sentences_for_the_ui_and_leave_the_rest(refused_url: str, tmp_path: Path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / f"{WAN}.binding.json").write_text('{"name": "wan22_ti2v_5b_t2v", "workflow": "nope.json"}')
    (user / "nope.json").write_text("{}")
    backend = ComfyUIBackend("local", refused_url, [BUNDLED_TEMPLATE_DIR, str(user)])
    [problem] = backend.template_problems
    assert str(user / f"{WAN}.binding.json") in problem and "media" in problem and "quality" in problem
    assert WAN in backend.templates and len(backend.offers()) == 8  # the bundled one still serves


def test_too_long_shots_are_refused_before_anything_is_sent(refused_url: str, tmp_path: Path):
    backend = ComfyUIBackend("local", refused_url)  # a request would fail as unreachable
    too_long = r"at most 7\.6 s \(121 frames at 16 fps\) and shot 'Lighthouse' lasts 12\.5 s \(200 frames\)"
    with pytest.raises(InvalidRequest, match=too_long) as caught:
        backend.run(wan_request(tmp_path, frame_count=200), Recorder(), threading.Event())
    assert "split" in caught.value.hint
    sound = GenerationRequest(
        spec=make_spec(shot_id="a" * 32, prompt="rain", media=MediaKind.AUDIO, frame_count=60 * 24, fps=24.0),
        offer=Offer("stable_audio_open_t2a", MediaKind.AUDIO, Quality.DRAFT),
        output_dir=str(tmp_path),
        file_stem="rain",
    )
    with pytest.raises(InvalidRequest, match=r"at most 47\.0 s and shot '.*' lasts 60\.0 s"):
        backend.run(sound, Recorder(), threading.Event())


def test_full_wan_run_on_the_reference_server(reference, tmp_path: Path):
    av = pytest.importorskip("av")
    report = Recorder()
    started = time.monotonic()
    result = reference_backend(reference).run(wan_request(tmp_path), report, threading.Event())
    elapsed = time.monotonic() - started
    assert elapsed < 10
    [path] = result.files
    assert path == str(tmp_path / "sh010_take01.mp4")
    with av.open(path) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 9 and (frames[0].width, frames[0].height) == (64, 64)
    fractions = report.fractions
    assert fractions == sorted(fractions), "progress went backwards"
    assert fractions[-1] == 1.0 and report.updates[-1].message == "downloaded"
    assert any(p.preview_image and p.preview_image.startswith(b"\x89PNG") for p in report.updates)
    assert len({round(f, 2) for f in fractions}) > 10  # the bar moves in many small steps, not one jump
    entry = server_json(reference, f"/history/{result.server_job_id}")[result.server_job_id]
    assert entry["status"]["status_str"] == "success"
    assert result.parameters["server_url"] == reference.url


def test_concurrent_runs_share_one_backend(reference, tmp_path: Path):
    backend = reference_backend(reference, max_concurrent=2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            request = wan_request(tmp_path / str(index), seed=3000 + index)
            results.append(backend.run(request, Recorder(), threading.Event()))
        except BaseException as exc:  # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len({r.server_job_id for r in results}) == 3
    assert all(len(r.files) == 1 for r in results)


def test_identical_rerun_is_served_from_the_servers_cache(reference, tmp_path: Path):
    request = shot_request(tmp_path / "first", "sdxl_base_t2i", MediaKind.IMAGE, stem="cached_still", seed=77)
    first = reference_backend(reference).run(request, Recorder(), threading.Event())
    again_request = shot_request(tmp_path / "again", "sdxl_base_t2i", MediaKind.IMAGE, stem="cached_still", seed=77)
    report = Recorder()
    again = reference_backend(reference).run(again_request, report, threading.Event())
    assert Path(again.files[0]).read_bytes() == Path(first.files[0]).read_bytes()
    assert sorted(os.listdir(reference.output_dir / "shotcaller")).count("cached_still_00001_.png") == 1
    assert not any(n.startswith("cached_still_00002") for n in os.listdir(reference.output_dir / "shotcaller"))
    entry = server_json(reference, f"/history/{again.server_job_id}")[again.server_job_id]
    cached = next(m[1]["nodes"] for m in entry["status"]["messages"] if m[0] == "execution_cached")
    assert sorted(cached) == sorted(reference_backend(reference).templates["sdxl_base_t2i"].node_classes)
    assert report.fractions[-1] == 1.0 and not any("step" in p.message for p in report.updates)


def test_an_unexpected_error_after_submitting_is_typed_and_cancels_the_prompt(stub, tmp_path: Path):
    comfy = MiniComfy(stub, events=[], websocket=False, history_lag=10**6)

    def report(progress: Progress) -> None:
        if "queued" in progress.message:
            raise KeyError("a bug in a progress handler")

    with pytest.raises(ProtocolError, match="could not use"):
        stub_backend(stub).run(wan_request(tmp_path), report, threading.Event())
    assert [json.loads(b) for b in stub.requests_to("POST", "/interrupt")] == [{"prompt_id": comfy.prompt_id}]
