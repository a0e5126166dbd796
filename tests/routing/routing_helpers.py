"""Small builders for routing tests: views, candidates and contexts without a scheduler."""

from __future__ import annotations

from backend_doubles import ScriptedBackend
from shotcaller.backends.base import Offer
from shotcaller.routing.candidates import Candidate, RouteContext, ShotNeeds
from shotcaller.routing.registry import InstanceView, view_of
from shotcaller.shots import MediaKind, Quality, make_spec

DRAFT = Offer(
    "wan5b", MediaKind.VIDEO, Quality.DRAFT, label="TI2V 5B", vram_base_gb=6.0, vram_per_megapixel_frame_gb=0.1
)
FINAL = Offer(
    "wan14b", MediaKind.VIDEO, Quality.FINAL, label="Wan 14B", vram_base_gb=20.0, vram_per_megapixel_frame_gb=0.2
)
IMAGE = Offer("flux", MediaKind.IMAGE, Quality.FINAL, label="Flux", vram_base_gb=12.0)
I2V = Offer("wan5b_i2v", MediaKind.VIDEO, Quality.DRAFT, label="TI2V 5B i2v", needs_init_image=True)


def spec(**overrides):
    fields = {"shot_id": "shot0001aaaa", "prompt": "rain on a window"}
    fields.update(overrides)
    return make_spec(**fields)


def view(name="box", offers=(DRAFT,), **overrides) -> InstanceView:
    return view_of(ScriptedBackend(name, list(offers)), **overrides)


def candidate(offer=DRAFT, **view_overrides) -> Candidate:
    return Candidate(view(offers=(offer,), **view_overrides), offer)


def needs(**overrides) -> ShotNeeds:
    return ShotNeeds.of(spec(**overrides))


def context(**overrides) -> RouteContext:
    return RouteContext(**overrides)
