from backend_doubles import ScriptedBackend
from shotcaller.backends.base import Offer
from shotcaller.routing.health import HealthBook
from shotcaller.routing.router import Router
from shotcaller.shots import MediaKind, Quality, make_spec

DRAFT = Offer("wan5b", MediaKind.VIDEO, Quality.DRAFT, label="Wan 5B")
FINAL = Offer("wan14b", MediaKind.VIDEO, Quality.FINAL, label="Wan 14B")
IMAGE = Offer("flux", MediaKind.IMAGE, Quality.FINAL, label="Flux")


def spec(**overrides):
    fields = {"shot_id": "shot0001aaaa", "prompt": "rain on a window"}
    fields.update(overrides)
    return make_spec(**fields)


def test_quality_tier_ranks_matching_template_first():
    backend = ScriptedBackend("local", [DRAFT, FINAL, IMAGE])
    decision = Router().route(spec(quality="final"), [backend])
    assert [c.offer.name for c in decision.ranked] == ["wan14b", "wan5b"]
    assert decision.explanation.startswith("scripted 'local' with Wan 14B: final template for a final shot")
    rejected = {v.candidate.offer.name: v.reason for v in decision.verdicts if not v.accepted}
    assert rejected == {"flux": "makes image, not video"}


def test_other_tier_is_used_when_it_is_all_there_is_and_says_so():
    decision = Router().route(spec(quality="final"), [ScriptedBackend("local", [DRAFT])])
    assert decision.chosen.offer.name == "wan5b"
    assert "no final template available, using its draft one" in decision.explanation


def test_pin_keeps_only_the_pinned_instance():
    a, b = ScriptedBackend("box-a", [DRAFT]), ScriptedBackend("box-b", [DRAFT])
    decision = Router().route(spec(backend_pin="box-b"), [a, b])
    assert [c.backend.instance_id for c in decision.ranked] == ["box-b"]
    assert "pinned to 'box-b'" in decision.explanation


def test_unhealthy_instance_is_skipped_until_cooldown_ends():
    now = [100.0]
    health = HealthBook(cooldown_seconds=30, clock=lambda: now[0])
    a, b = ScriptedBackend("box-a", [DRAFT]), ScriptedBackend("box-b", [DRAFT])
    health.mark_down("box-a", "unreachable")
    router = Router(health)
    assert router.route(spec(), [a, b]).chosen.backend.instance_id == "box-b"
    now[0] += 31
    assert router.route(spec(), [a, b]).chosen.backend.instance_id == "box-a"


def test_no_backend_configured_says_what_to_do():
    decision = Router().route(spec(), [])
    assert decision.chosen is None
    assert "add a ComfyUI URL" in decision.explanation


def test_recently_failed_instance_is_still_tried_when_it_is_the_only_one():
    health = HealthBook(cooldown_seconds=30)
    health.mark_down("local", "unreachable")
    decision = Router(health).route(spec(), [ScriptedBackend("local", [DRAFT])])
    assert decision.chosen.backend.instance_id == "local"
    assert "tried again as nothing else fits" in decision.explanation
