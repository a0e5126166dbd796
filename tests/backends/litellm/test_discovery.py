"""Image and video offers from the REAL proxy's model list, as far as the user's patterns allow."""

from __future__ import annotations

import threading

from shotcaller.backends.base import GenerationRequest, Progress
from shotcaller.backends.litellm.backend import LiteLLMBackend
from shotcaller.backends.litellm.client import ModelEntry
from shotcaller.backends.litellm.discovery import match_listed
from shotcaller.routing.discovery import probe_instance
from shotcaller.routing.registry import CapabilityRegistry
from shotcaller.shots import MediaKind, Quality, make_spec

ALLOWED = [
    {"name": "cloud-image*", "media": "image", "quality": "final", "sizes": ["256x256", "384x256"]},
    {"name": "cloud-*", "media": "video", "quality": "draft", "sizes": ["320x176"], "seconds": [4, 8]},
    {"name": "not-on-proxy", "media": "image"},
]


def test_listed_models_the_patterns_allow_become_offers(stack):
    backend = LiteLLMBackend("proxy", stack.url, stack.master_key, ALLOWED, allow_cloud=True, poll_interval=0.1)
    assert [o.name for o in backend.offers()] == ["not-on-proxy"]  # before discovery: the exact names only
    found = backend.discover()
    offers = {o.name: o for o in backend.offers()}
    # chat models (prompt-writer, gpt-4o-mini) and whisper match no pattern of their kind
    assert set(offers) == {"not-on-proxy", "cloud-image", "cloud-image-url", "cloud-video"}
    assert (offers["cloud-image"].media, offers["cloud-image"].quality) == (MediaKind.IMAGE, Quality.FINAL)
    assert (offers["cloud-video"].media, offers["cloud-video"].quality) == (MediaKind.VIDEO, Quality.DRAFT)
    assert found.missing == {
        "not-on-proxy": f"LiteLLM at {stack.url} does not list the model 'not-on-proxy' for this key"
    }


def test_a_listed_model_runs_with_its_patterns_settings(stack, tmp_path):
    backend = LiteLLMBackend("proxy", stack.url, stack.master_key, ALLOWED, allow_cloud=True, poll_interval=0.1)
    registry = CapabilityRegistry.from_backends([backend])
    probe_instance(registry, None, registry.instances[0])
    [view] = registry.views()
    assert "cloud-image" in {o.name for o in view.offers} and "not-on-proxy" in view.missing
    spec = make_spec(shot_id="listed-0001", label="Pier", prompt="a pier at dawn", media=MediaKind.IMAGE,
                     width=832, height=480)  # fmt: skip
    offer = next(o for o in backend.offers() if o.name == "cloud-image")
    result = backend.run(GenerationRequest(spec, offer, str(tmp_path), "pier"), Progress, threading.Event())
    assert result.model == "cloud-image" and result.parameters["size"] == "384x256"  # the pattern's sizes


def test_a_pattern_never_makes_a_chat_model_a_route():
    listed = [
        ModelEntry("cloud-writer", "chat"),
        ModelEntry("cloud-new", ""),
        ModelEntry("cloud-pic", "image_generation"),
    ]
    found = match_listed(listed, {}, {"cloud-*": MediaKind.VIDEO}, "http://proxy")
    assert dict(found.matched) == {"cloud-new": "cloud-*"}  # a model of unknown mode is taken as the pattern says
