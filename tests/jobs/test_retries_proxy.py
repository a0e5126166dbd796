"""Retries that respect the provider, counted in provider calls, against a real LiteLLM proxy.

The proxy runs with LiteLLM's own retry defaults (as a user's would), in front of the OpenAI
media reference server, whose `rate_wait` answers 429 "Please try again in 1s" with Retry-After.
Shotcaller asks the proxy per request not to retry (x-litellm-num-retries: 0) and does the
retrying itself, honouring the wait; one provider 429 costs at most 3 provider calls in all.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from devservers.litellm.config import build_config
from devservers.litellm.launch import litellm_python, start_proxy
from devservers.openai_media import OpenAIMediaServer
from shotcaller.backends.base import BackendBusy
from shotcaller.backends.litellm.backend import LiteLLMBackend
from shotcaller.backends.litellm.client import LiteLLMClient
from shotcaller.backends.litellm.cloud_model import CloudModel
from shotcaller.backends.litellm.errors import ProxyLimited
from shotcaller.jobs.events import TERMINAL_EVENTS, JobCancelled, JobFailed, JobProgress, JobRouted, JobSucceeded
from shotcaller.jobs.scheduler import Scheduler
from shotcaller.routing.policy import RoutingPolicy
from shotcaller.routing.registry import CapabilityRegistry, InstanceConfig
from shotcaller.shots import make_spec

MEDIA_KEY = "sk-media-retries"
IMAGES, VIDEOS, TRANSCRIPTIONS = "/v1/images/generations", "/v1/videos", "/v1/audio/transcriptions"
HASH = re.compile(r"[0-9a-f]{32,}")


class Stack:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="shotcaller-retries-"))
        self.media = OpenAIMediaServer(
            api_key=MEDIA_KEY, output_dir=str(self.directory / "media"), video_job_seconds=0.3, retry_after_seconds=1
        )
        self.media.start()
        api = self.media.url + "/v1"

        def image(name: str, **params: object) -> dict:
            litellm_params = {"model": "openai/gpt-image-1", "api_base": api, "api_key": MEDIA_KEY, **params}
            return {"model_name": name, "litellm_params": litellm_params, "model_info": {"mode": "image_generation"}}

        extra = [image("limited-image", rpm=1), image("twin-image"), image("twin-image")]
        self.master_key = f"sk-test-{secrets.token_hex(12)}"
        config = build_config(
            master_key=self.master_key, media_url=self.media.url, media_api_key=MEDIA_KEY, num_retries=None,
            extra_models=extra,
        )  # fmt: skip
        # LiteLLM's default retries stay on; usage-based routing is what enforces a deployment's rpm.
        config["router_settings"] = {"routing_strategy": "usage-based-routing-v2", "enable_pre_call_checks": True}
        try:
            self.proxy = start_proxy(self.directory, config, self.master_key, python=litellm_python(ensure=True))
        except BaseException:
            self.media.stop()
            raise
        self.url = self.proxy.url

    def stop(self) -> None:
        self.proxy.stop()
        self.media.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def stack():
    try:
        litellm_python(ensure=True)
    except RuntimeError as exc:
        pytest.skip(f"no LiteLLM proxy: {exc}")
    stack = Stack()
    yield stack
    stack.stop()


def backend(stack: Stack, name: str, model: str, media: str) -> tuple[LiteLLMBackend, InstanceConfig]:
    cloud = CloudModel(name=model, media=media, quality="final", seconds=(4,) if media == "video" else ())
    made = LiteLLMBackend(name, stack.url, stack.master_key, [cloud], allow_cloud=True, poll_interval=0.1)
    return made, InstanceConfig(kind="litellm", name=name, url=stack.url, slots=1, is_local=False)


def shot(prompt: str, media: str = "image"):
    frames = {"frame_count": 96} if media == "video" else {}
    return make_spec(
        shot_id=f"shot{secrets.token_hex(4)}", label="Harbour", prompt=prompt, media=media, quality="final",
        width=64, height=48, fps=24, **frames,
    )  # fmt: skip


def run(scheduler: Scheduler, spec, folder: Path, *, cancel_on=None, timeout: float = 120.0) -> list:
    job_id = scheduler.submit(spec, str(folder), "take", policy=RoutingPolicy(allow_cloud=True))
    events = []
    while True:
        event = scheduler.events.get(timeout=timeout)
        events.append(event)
        if cancel_on is not None and cancel_on(event):
            scheduler.cancel(job_id)
        if isinstance(event, TERMINAL_EVENTS) and event.job_id == job_id:
            return events


def test_a_rate_limited_image_costs_three_provider_calls_and_says_once_what_happened(stack, tmp_path):
    tag = secrets.token_hex(3)
    scheduler = Scheduler(registry=CapabilityRegistry([backend(stack, "proxy", "cloud-image", "image")]))
    try:
        events = run(scheduler, shot(f"harbour {tag} [[fail:rate_wait]]"), tmp_path)
    finally:
        scheduler.shutdown()
    failed = events[-1]
    assert isinstance(failed, JobFailed) and failed.error_kind == "busy"
    # The proxy's router did not retry (asked per request); its OpenAI client retried twice, honouring
    # the wait, and Shotcaller did not ask again on top: 3 provider calls, not 9 or 15.
    assert stack.media.calls("POST", IMAGES, tag) == 3
    assert sum(isinstance(e, JobRouted) for e in events) == 1
    assert failed.message.count("Please try again in 1s") == 1, failed.message
    assert "model group" not in failed.message and len(failed.message) < 300, failed.message
    assert failed.hint.startswith("Nothing more will be tried for this shot: generate it again in 1 s or later")
    assert "tried again later" not in failed.hint


def test_a_rate_limited_video_is_asked_again_after_the_providers_wait_three_calls_in_all(stack, tmp_path):
    tag = secrets.token_hex(3)
    scheduler = Scheduler(registry=CapabilityRegistry([backend(stack, "proxy", "cloud-video", "video")]))
    try:
        events = run(scheduler, shot(f"harbour {tag} [[fail:rate_wait]]", "video"), tmp_path)
    finally:
        scheduler.shutdown()
    failed = events[-1]
    assert isinstance(failed, JobFailed)
    assert stack.media.calls("POST", VIDEOS, tag) == 3  # one per attempt: the proxy retried none of them
    notes = [e.message for e in events if isinstance(e, JobProgress) and "failed:" in e.message]
    assert len(notes) == 2 and all(n.endswith("trying again in 1 s") for n in notes), notes  # its wait, not 2/4 s
    assert failed.message.startswith("failed after 3 attempts: ") and failed.message.endswith(", 3 times")
    assert failed.message.count("Please try again in 1s") == 1
    assert "Nothing more will be tried" in failed.hint


def test_a_video_rate_limited_once_is_made_on_the_second_call(stack, tmp_path):
    tag = secrets.token_hex(3)
    scheduler = Scheduler(registry=CapabilityRegistry([backend(stack, "proxy", "cloud-video", "video")]))
    try:
        events = run(scheduler, shot(f"harbour {tag} [[fail:rate_wait_once]]", "video"), tmp_path)
    finally:
        scheduler.shutdown()
    assert isinstance(events[-1], JobSucceeded), events[-1]
    assert stack.media.calls("POST", VIDEOS, tag) == 2


def test_with_a_second_backend_the_shot_moves_over_without_waiting(stack, tmp_path):
    stack.media.rate_limited_models = {"gpt-image-1"}  # the provider limits one model; dall-e-3 is free
    try:
        before = stack.media.calls("POST", IMAGES)
        registry = CapabilityRegistry(
            [backend(stack, "limited", "cloud-image", "image"), backend(stack, "free", "cloud-image-url", "image")]
        )
        scheduler = Scheduler(registry=registry)
        try:
            spec = shot(f"harbour {secrets.token_hex(3)}")
            decision = scheduler.route_preview(spec, RoutingPolicy(allow_cloud=True))
            if decision.chosen is None or decision.chosen.instance_id != "limited":
                pytest.skip("the router prefers the free backend: nothing to move over from")
            events = run(scheduler, spec, tmp_path)
        finally:
            scheduler.shutdown()
    finally:
        stack.media.rate_limited_models = set()
    assert isinstance(events[-1], JobSucceeded), events[-1]
    routed = [e.instance_id for e in events if isinstance(e, JobRouted)]
    assert routed == ["limited", "free"]
    notes = [e.message for e in events if isinstance(e, JobProgress) and "failed:" in e.message]
    assert len(notes) == 1 and "; trying " in notes[0] and " on free" in notes[0], notes
    assert "trying again in" not in notes[0]  # another backend takes it now: no wait for the busy one
    assert stack.media.calls("POST", IMAGES) - before == 4  # 3 on the limited model, 1 on the free one


def test_the_proxys_cooldown_is_reported_as_the_proxys_in_one_sentence(stack, tmp_path):
    stack.media.rate_limited_models = {"gpt-image-1"}
    client = LiteLLMClient(stack.url, stack.master_key, timeout=30)
    try:
        with pytest.raises(BackendBusy) as provider:  # the provider's 429 puts the deployment on cooldown
            client.generate_images("twin-image", "harbour", size="64x64")
        assert not isinstance(provider.value, ProxyLimited)
        calls = stack.media.calls("POST", IMAGES)
        with pytest.raises(ProxyLimited) as limited:
            client.generate_images("twin-image", "harbour", size="64x64")
    finally:
        stack.media.rate_limited_models = set()
    assert stack.media.calls("POST", IMAGES) == calls  # the proxy held it back: no provider call
    message = limited.value.message
    assert message == (
        f"LiteLLM at {stack.url} is resting model 'twin-image' after errors from its provider (the proxy's"
        " cooldown) for 1 s"
    )
    assert limited.value.retry_after == 1
    assert not HASH.search(message + limited.value.hint) and "cooldown_list" not in message


def test_the_proxys_own_rpm_limit_is_reported_as_the_proxys_and_waited_for(stack, tmp_path):
    backend_and_config = backend(stack, "proxy", "limited-image", "image")
    scheduler = Scheduler(registry=CapabilityRegistry([backend_and_config]))
    try:
        first = run(scheduler, shot(f"harbour {secrets.token_hex(3)}"), tmp_path)
        assert isinstance(first[-1], JobSucceeded), first[-1]
        calls = stack.media.calls("POST", IMAGES)
        seen: list[str] = []

        def on_wait(event) -> bool:
            if isinstance(event, JobProgress) and "failed:" in event.message:
                seen.append(event.message)
                return True
            return False

        events = run(scheduler, shot(f"harbour {secrets.token_hex(3)}"), tmp_path, cancel_on=on_wait)
    finally:
        scheduler.shutdown()
    assert isinstance(events[-1], JobCancelled)
    assert stack.media.calls("POST", IMAGES) == calls  # the proxy's limit called no provider
    assert seen == [
        f"litellm 'proxy' failed: LiteLLM at {stack.url} has reached its own request limit for model"
        " 'limited-image' (the rpm or tpm in its config); trying again in 60 s"
    ]


def test_a_rate_limited_transcription_is_one_provider_call(stack, tmp_path):
    import wave

    sound = tmp_path / "line.wav"
    with wave.open(str(sound), "wb") as handle:
        handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(16000)
        handle.writeframes(b"\0\0" * 16000)
    tag = secrets.token_hex(3)
    client = LiteLLMClient(stack.url, stack.master_key, timeout=30)
    with pytest.raises(BackendBusy) as busy:
        client.transcribe(str(sound), "whisper", prompt=f"harbour {tag} [[fail:rate_wait]]")
    assert stack.media.calls("POST", TRANSCRIPTIONS, tag) == 1  # LiteLLM's default 2 retries were asked off
    assert busy.value.retry_after == 1


@pytest.fixture(scope="module")
def no_retry_stack():
    """The shared proxy, whose router retries nothing (num_retries 0): a cut-off download reaches Shotcaller."""
    from devservers.litellm.testing import StackUnavailable, shared_stack

    try:
        return shared_stack()
    except StackUnavailable as exc:
        pytest.skip(f"no LiteLLM proxy: {exc}")


@pytest.mark.parametrize("proxy_retries", [False, True])
def test_a_video_whose_download_is_cut_off_is_fetched_again_not_made_again(request, proxy_retries, tmp_path):
    stack = request.getfixturevalue("stack" if proxy_retries else "no_retry_stack")
    tag = secrets.token_hex(3)
    scheduler = Scheduler(registry=CapabilityRegistry([backend(stack, "proxy", "cloud-video", "video")]))
    try:
        events = run(scheduler, shot(f"harbour {tag} [[fail:cut_download]]", "video"), tmp_path)
    finally:
        scheduler.shutdown()
    done = events[-1]
    assert isinstance(done, JobSucceeded), done
    assert stack.media.calls("POST", VIDEOS, tag) == 1  # made once
    (video,) = [v for v in stack.media.videos.values() if tag in v.prompt]
    downloads = sum(1 for r in stack.media.requests if r["path"] == f"/v1/videos/{video.id}/content")
    assert downloads == 2  # the cut-off one, then the whole one, of the same video
    assert [e.instance_id for e in events if isinstance(e, JobRouted)] == ["proxy"]
    again = [
        e for e in events if isinstance(e, JobProgress) and e.message.startswith("fetching the finished job again")
    ]
    assert len(again) == 1  # Shotcaller fetched it again; the proxy was asked not to, and did not
    with open(done.take.files[0], "rb") as handle:
        assert handle.read(12)[4:8] == b"ftyp"
