"""The router as a whole: ranking rules, last-resort health, explanations and the structured record."""

from dataclasses import replace

from routing_helpers import DRAFT, FINAL, I2V, IMAGE, spec, view

from backend_doubles import ScriptedBackend
from shotcaller.routing.health import CircuitBreakers
from shotcaller.routing.policy import RoutingPolicy
from shotcaller.routing.registry import Locality
from shotcaller.routing.router import Router
from shotcaller.routing.stats import SpeedStats


def test_quality_tier_ranks_matching_template_first():
    backend = ScriptedBackend("local", [DRAFT, FINAL, IMAGE])
    decision = Router().route(spec(quality="final"), [backend])
    assert [c.offer.name for c in decision.ranked] == ["wan14b", "wan5b"]
    assert decision.explanation.startswith("scripted on local: final template for a final shot")
    rejected = {v.candidate.offer.name: v.reason for v in decision.verdicts if not v.accepted}
    assert rejected == {"flux": "makes image, not video"}


def test_other_tier_is_used_when_it_is_all_there_is_and_says_so():
    decision = Router().route(spec(quality="final"), [ScriptedBackend("local", [DRAFT])])
    assert decision.chosen.offer.name == "wan5b"
    assert "no final template available, using its draft one" in decision.explanation


def test_drafts_go_to_the_fastest_instance_counting_its_queue():
    speeds = SpeedStats()
    speeds.record("fast", "wan5b", 10.0, 10.0)  # 1 s per unit
    speeds.record("slow", "wan5b", 40.0, 10.0)  # 4 s per unit
    router = Router(speeds=speeds)
    fleet = [view("slow"), view("fast")]
    assert router.route(spec(), fleet).chosen.instance_id == "fast"
    # the shot runs 19.6 s on the fast box, 78 s on the slow one: 20 s of queue still leaves fast ahead,
    # 100 s does not
    assert router.route(spec(), fleet, waits={"fast": 20.0}).chosen.instance_id == "fast"
    assert router.route(spec(), fleet, waits={"fast": 100.0}).chosen.instance_id == "slow"


def test_finals_take_the_highest_quality_that_fits_even_if_slower():
    speeds = SpeedStats()
    speeds.record("big", "wan14b", 100.0, 1.0)
    speeds.record("big", "wan5b", 1.0, 1.0)
    fleet = [view("big", (DRAFT, FINAL), vram_free_gb=24.0), view("small", (DRAFT, FINAL), vram_free_gb=12.0)]
    decision = Router(speeds=speeds).route(spec(quality="final"), fleet)
    assert (decision.chosen.instance_id, decision.chosen.offer.name) == ("big", "wan14b")
    assert "the largest model that fits" in decision.explanation
    assert (
        "scripted on small skipped: its Wan 14B needs ~23.9 GB at 832x480, 49 frames and 12.0 GB are free"
        in decision.explanation
    )


def test_explanation_names_the_fit_and_what_was_skipped():
    fleet = [view("gpu-box-1", (FINAL,), vram_free_gb=11.0), view("gpu-box-2", (DRAFT,), vram_free_gb=9.1)]
    decision = Router().route(spec(), fleet)
    assert decision.explanation.startswith(
        "scripted on gpu-box-2: draft template for a draft shot, 9.1 GB free fits TI2V 5B at 832x480, 49 frames"
    )
    assert "scripted on gpu-box-1 skipped: its Wan 14B needs ~23.9 GB" in decision.explanation


def test_locality_prefers_this_machine_when_times_are_close():
    fleet = [view("lan", locality=Locality.LOCAL_NETWORK), view("here")]
    decision = Router().route(spec(), fleet)
    assert [c.instance_id for c in decision.ranked] == ["here", "lan"]
    assert "on this machine" in decision.explanation


def test_cost_breaks_near_ties_toward_the_cheaper_instance():
    fleet = [view("paid", cost_per_shot=0.5), view("free")]
    assert Router().route(spec(), fleet).chosen.instance_id == "free"


def test_local_only_project_never_uses_the_cloud():
    fleet = [view("cloud", locality=Locality.CLOUD)]
    decision = Router().route(spec(), fleet, policy=RoutingPolicy(force_local=True))
    assert decision.chosen is None
    assert "is a cloud service and 'force local' is on for this project" in decision.explanation


def test_pin_keeps_only_the_pinned_instance():
    a, b = ScriptedBackend("box-a", [DRAFT]), ScriptedBackend("box-b", [DRAFT])
    decision = Router().route(spec(backend_pin="box-b"), [a, b])
    assert [c.backend.instance_id for c in decision.ranked] == ["box-b"]
    assert "pinned to 'box-b'" in decision.explanation


def test_init_image_templates_are_skipped_without_an_init_image():
    decision = Router().route(spec(), [ScriptedBackend("box", [I2V, DRAFT])])
    assert [c.offer.name for c in decision.ranked] == ["wan5b"]


def test_unhealthy_instance_is_skipped_until_cooldown_ends():
    now = [100.0]
    health = CircuitBreakers(cooldown_seconds=30, clock=lambda: now[0])
    a, b = ScriptedBackend("box-a", [DRAFT]), ScriptedBackend("box-b", [DRAFT])
    health.record_failure("box-a", "unreachable", decisive=True)
    router = Router(health)
    assert router.route(spec(), [a, b]).chosen.backend.instance_id == "box-b"
    now[0] += 31
    assert router.route(spec(), [a, b]).chosen.backend.instance_id == "box-a"


def test_no_backend_configured_says_what_to_do():
    decision = Router().route(spec(), [])
    assert decision.chosen is None
    assert "add a ComfyUI URL" in decision.explanation


def test_recently_failed_instance_is_still_tried_when_it_is_the_only_one():
    health = CircuitBreakers(cooldown_seconds=30)
    health.record_failure("local", "unreachable", decisive=True)
    decision = Router(health).route(spec(), [ScriptedBackend("local", [DRAFT])])
    assert decision.chosen.backend.instance_id == "local"
    assert decision.chosen_resting
    # Not "tried again in 30 s, tried anyway": the wait does not apply to a server tried now.
    assert "; it was down (unreachable) and is tried anyway as nothing else fits" in decision.explanation
    assert "next try in" not in decision.explanation


def test_memory_blocked_decision_is_flagged_for_step_down():
    decision = Router().route(spec(quality="final"), [view("small", (FINAL,), vram_free_gb=12.0)])
    assert decision.chosen is None and decision.blocked_by_memory
    other = Router().route(spec(media="audio"), [view("small", (FINAL,))])
    assert not other.blocked_by_memory


def test_every_candidate_has_a_verdict_with_a_reason_and_the_record_is_plain_json():
    import json

    fleet = [view("a", (DRAFT, FINAL, IMAGE), vram_free_gb=16.0), view("b", (replace(DRAFT, name="d2"),))]
    decision = Router().route(spec(label="Intro"), fleet)
    assert len(decision.verdicts) == 4
    assert all(v.reason for v in decision.verdicts)
    record = json.loads(json.dumps(decision.to_record()))
    assert record["chosen"] == {"instance": decision.chosen.instance_id, "offer": decision.chosen.offer.name}
    assert record["label"] == "Intro" and record["frames"] == 49
    by_offer = {c["offer"]: c for c in record["candidates"]}
    assert by_offer["flux"]["filter"] == "media" and not by_offer["flux"]["accepted"]
    assert by_offer["wan14b"]["filter"] == "vram"
    assert by_offer["wan5b"]["accepted"] and by_offer["wan5b"]["run_seconds"] > 0


def test_retry_in_when_only_a_timed_exclusion_stands_in_the_way():
    from shotcaller.routing.candidates import ANY_OFFER, Exclusion

    excluded = {("box", ANY_OFFER): Exclusion("busy", until=12.0)}
    decision = Router().route(spec(), [view("box")], excluded=excluded, now=10.0)
    assert decision.chosen is None and decision.retry_in == 2.0
    assert "trying again in 2 s" in decision.explanation


def test_fallbacks_are_counted_in_words_and_only_where_they_would_be_tried():
    one = Router().route(spec(), [view("a"), view("b")])
    assert one.explanation.endswith("; 1 fallback.")
    two = Router().route(spec(), [view("a"), view("b"), view("c")])
    assert two.explanation.endswith("; 2 fallbacks.")
    assert Router().route(spec(), [view("a")]).explanation.endswith("on this machine.")
    # Healthy, a server's other template is tried after the first fails there (say out of memory).
    both = view("local", (DRAFT, FINAL))
    assert Router().route(spec(), [both]).explanation.endswith("; 1 fallback.")
    # Down and tried anyway: its failing is the server's, so its other template is no fallback (it said
    # "1 fallback(s)"); another server that was down too still is.
    health = CircuitBreakers(cooldown_seconds=30)
    health.record_failure("local", "unreachable", decisive=True)
    alone = Router(health).route(spec(), [both])
    assert alone.chosen_resting and len(alone.ranked) == 2
    assert "fallback" not in alone.explanation, alone.explanation
    health.record_failure("other", "unreachable", decisive=True)
    pair = Router(health).route(spec(), [both, view("other")])
    assert pair.explanation.endswith("; 1 fallback."), pair.explanation
