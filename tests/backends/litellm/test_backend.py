"""LiteLLMBackend: image and video shots through the REAL proxy to the OpenAI media reference endpoint."""

from __future__ import annotations

import threading

import av
import pytest
from PIL import Image

from shotcaller.backends.base import (
    BackendBusy,
    Cancelled,
    GenerationRequest,
    InvalidRequest,
    Offer,
    Progress,
    ProtocolError,
)
from shotcaller.backends.litellm.backend import LiteLLMBackend
from shotcaller.backends.litellm.errors import ContentRefused, UnknownModel
from shotcaller.shots import MediaKind, Quality, make_spec

MODELS = [
    {"name": "cloud-image", "media": "image", "sizes": ["256x256", "384x256", "256x384"]},
    {
        "name": "cloud-video",
        "media": "video",
        "quality": "draft",
        "sizes": ["320x176", "176x320"],
        "seconds": [4, 8, 12],
    },
]


@pytest.fixture
def backend(stack):
    return LiteLLMBackend("proxy", stack.url, stack.master_key, MODELS, allow_cloud=True, poll_interval=0.1)


def request_for(backend, tmp_path, media: MediaKind, prompt: str, **fields):
    spec = make_spec(shot_id="shot-0001abcd", label="Harbour", prompt=prompt, media=media, **fields)
    (offer,) = [o for o in backend.offers() if o.media == media]
    return GenerationRequest(spec=spec, offer=offer, output_dir=str(tmp_path / "takes"), file_stem="harbour_take1")


class Recorder:
    def __init__(self) -> None:
        self.events: list[Progress] = []

    def __call__(self, progress: Progress) -> None:
        self.events.append(progress)


def test_offers_follow_the_cloud_switch(stack):
    closed = LiteLLMBackend("proxy", stack.url, stack.master_key, MODELS)
    assert closed.offers() == []  # cloud is off unless the caller allows it
    opened = LiteLLMBackend("proxy", stack.url, stack.master_key, MODELS, allow_cloud=True)
    offers = {o.name: o for o in opened.offers()}
    assert set(offers) == {"cloud-image", "cloud-video"}
    assert offers["cloud-image"].media == MediaKind.IMAGE and offers["cloud-image"].quality == Quality.FINAL
    assert offers["cloud-video"].media == MediaKind.VIDEO and offers["cloud-video"].quality == Quality.DRAFT
    # The proxy is on loopback: where it sends the model is not known, so not "(cloud)" (it said so).
    assert offers["cloud-video"].label == "cloud-video (local proxy)"
    remote = LiteLLMBackend("proxy", "https://litellm.example.net", "", MODELS, allow_cloud=True)
    assert {o.label for o in remote.offers()} == {"cloud-image (cloud)", "cloud-video (cloud)"}
    assert LiteLLMBackend.kind == "litellm" and not opened.is_local
    assert not any(opened.is_local_offer(o) for o in opened.offers())
    local = LiteLLMBackend("proxy", stack.url, "", [{"name": "local-sd", "media": "image", "local": True}])
    (offer,) = local.offers()
    assert local.is_local_offer(offer) and offer.label == "local-sd (local)"


def test_probe_lists_models_and_reports_missing_ones(stack):
    backend = LiteLLMBackend(
        "proxy", stack.url, stack.master_key, [*MODELS, {"name": "not-on-proxy", "media": "image"}], allow_cloud=True
    )
    probe = backend.probe()
    assert probe.missing == ("not-on-proxy",)
    assert "cloud-video" in {m.id for m in probe.models}


def test_image_shot_lands_as_a_png(backend, stack, tmp_path):
    request = request_for(backend, tmp_path, MediaKind.IMAGE, "A lighthouse at dusk", seed=7, width=832, height=480)
    progress = Recorder()
    result = backend.run(request, progress, threading.Event())
    (path,) = result.files
    assert path.endswith("harbour_take1.png")
    with Image.open(path) as image:
        assert image.size == (384, 256)  # the allowed size closest to the shot's 16:9-ish aspect
    assert result.model == "cloud-image"
    assert result.parameters["size"] == "384x256" and result.parameters["cloud"] is True
    assert result.parameters["ignored"] == ["seed"]
    assert progress.events[-1].fraction == 1.0
    forwarded = [r for r in stack.media.requests if r["path"] == "/v1/images/generations"][-1]["fields"]
    assert forwarded["model"] == "gpt-image-1" and forwarded["prompt"] == "A lighthouse at dusk"
    assert forwarded["size"] == "384x256"


def test_image_returned_as_a_url_is_fetched_without_the_key(stack, tmp_path):
    backend = LiteLLMBackend(
        "proxy",
        stack.url,
        stack.master_key,
        [{"name": "cloud-image-url", "media": "image", "sizes": ["256x256"], "extra": {"response_format": "url"}}],
        allow_cloud=True,
    )
    request = request_for(backend, tmp_path, MediaKind.IMAGE, "A gull on a post")
    result = backend.run(request, Recorder(), threading.Event())
    (path,) = result.files
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (256, 256)
    assert result.parameters["response_format"] == "url"
    forwarded = [r for r in stack.media.requests if r["path"] == "/v1/images/generations"][-1]["fields"]
    assert forwarded["model"] == "dall-e-3" and forwarded["response_format"] == "url"


def test_video_shot_is_polled_and_downloaded(backend, stack, tmp_path):
    request = request_for(
        backend,
        tmp_path,
        MediaKind.VIDEO,
        "Boats rocking in a misty harbour",
        frame_count=49,
        fps=24.0,
        width=832,
        height=480,
    )
    progress = Recorder()
    result = backend.run(request, progress, threading.Event())
    (path,) = result.files
    assert path.endswith("harbour_take1.mp4")
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 176)
        frames = sum(1 for _ in container.decode(stream))
    assert frames == 4 * 24  # 49 frames at 24 fps need 2.04 s: the shortest allowed length is 4 s
    assert result.server_job_id.startswith("video_")
    assert result.parameters["seconds"] == 4 and result.parameters["size"] == "320x176"
    fractions = [event.fraction for event in progress.events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("in progress" in event.message for event in progress.events)
    forwarded = [r for r in stack.media.requests if r["path"] == "/v1/videos"][-1]["fields"]
    assert forwarded["model"] == "sora-2" and forwarded["seconds"] == "4" and forwarded["size"] == "320x176"


def test_failed_video_job(backend, tmp_path):
    request = request_for(backend, tmp_path, MediaKind.VIDEO, "A storm [[fail:job]]")
    with pytest.raises(ProtocolError) as caught:
        backend.run(request, Recorder(), threading.Event())
    assert "video_generation_failed" in caught.value.message
    assert caught.value.failover  # another backend may make it


def test_refused_prompt_does_not_fail_over(backend, tmp_path):
    request = request_for(backend, tmp_path, MediaKind.IMAGE, "Something [[fail:content_policy]]")
    with pytest.raises(ContentRefused) as caught:
        backend.run(request, Recorder(), threading.Event())
    assert not caught.value.failover and "safety system" in caught.value.message


def test_rate_limited_video_is_busy(backend, tmp_path):
    request = request_for(backend, tmp_path, MediaKind.VIDEO, "Waves [[fail:rate_limit]]")
    with pytest.raises(BackendBusy):
        backend.run(request, Recorder(), threading.Event())


def test_cancel_while_the_video_renders(backend, tmp_path):
    request = request_for(backend, tmp_path, MediaKind.VIDEO, "A long pan over the bay")
    cancel = threading.Event()

    def report(progress: Progress) -> None:
        if "in progress" in progress.message or "queued" in progress.message:
            cancel.set()

    with pytest.raises(Cancelled) as caught:
        backend.run(request, report, cancel)
    assert not (tmp_path / "takes" / "harbour_take1.mp4").exists()
    video = caught.value.server_job_id
    assert video and video not in caught.value.message  # the provider's video id only in the log
    assert caught.value.message == f"shot 'Harbour' was cancelled on LiteLLM at {backend.base_url} (cloud-video)"


def test_model_missing_on_the_proxy(stack, tmp_path):
    backend = LiteLLMBackend(
        "proxy", stack.url, stack.master_key, [{"name": "gone", "media": "image"}], allow_cloud=True
    )
    request = request_for(backend, tmp_path, MediaKind.IMAGE, "A fox")
    with pytest.raises(UnknownModel):
        backend.run(request, Recorder(), threading.Event())


def test_offer_no_longer_configured(backend, tmp_path):
    spec = make_spec(shot_id="shot-0001abcd", prompt="x", media=MediaKind.IMAGE)
    request = GenerationRequest(spec, Offer("vanished", MediaKind.IMAGE, Quality.FINAL), str(tmp_path), "t")
    with pytest.raises(InvalidRequest):
        backend.run(request, Recorder(), threading.Event())


def test_cloud_off_refuses_to_run(stack, tmp_path):
    backend = LiteLLMBackend("proxy", stack.url, stack.master_key, MODELS)
    spec = make_spec(shot_id="shot-0001abcd", prompt="x", media=MediaKind.IMAGE)
    request = GenerationRequest(spec, Offer("cloud-image", MediaKind.IMAGE, Quality.FINAL), str(tmp_path), "t")
    with pytest.raises(InvalidRequest) as caught:
        backend.run(request, Recorder(), threading.Event())
    assert "cloud use is off" in caught.value.message


def test_key_not_in_backend_repr(stack):
    backend = LiteLLMBackend("proxy", stack.url, stack.master_key, MODELS)
    assert stack.master_key not in repr(backend) and stack.master_key not in repr(backend.client)
    assert stack.master_key not in repr(stack.proxy)


def test_factory_for_the_session(stack):
    from types import SimpleNamespace

    from shotcaller.backends.litellm.backend import from_instance_config

    config = SimpleNamespace(
        name="studio-proxy", url=stack.url, slots=3, is_local=None,
        options={"api_key": stack.master_key, "models": MODELS},
    )  # fmt: skip
    backend = from_instance_config(config, SimpleNamespace(online_access=True))
    assert backend.instance_id == "studio-proxy" and backend.max_concurrent == 3
    assert {o.name for o in backend.offers()} == {"cloud-image", "cloud-video"}
    assert backend.probe().missing == ()
    offline = from_instance_config(config, SimpleNamespace(online_access=False))
    assert offline.offers() == []
    local = from_instance_config(SimpleNamespace(**{**vars(config), "is_local": True}),
                                 SimpleNamespace(online_access=False))  # fmt: skip
    assert len(local.offers()) == 2 and all(local.is_local_offer(o) for o in local.offers())


def test_a_wrong_key_is_refused_credentials_not_a_dead_proxy(stack):
    """The Test button and the scheduler hear the proxy's refusal as such (backends/server_check.py)."""
    from shotcaller.backends.base import BackendUnreachable, CredentialsRefused
    from shotcaller.backends.server_check import check_server

    wrong = LiteLLMBackend("proxy", stack.url, "sk-wrong-0123456789", MODELS, allow_cloud=True)
    with pytest.raises(CredentialsRefused) as caught:
        wrong.probe()
    assert not isinstance(caught.value, BackendUnreachable)
    found = check_server(wrong)
    assert found.refused and not found.reachable
    assert "answered" in found.text and "not reachable" not in found.text
    assert "sk-wrong-0123456789" not in found.text
