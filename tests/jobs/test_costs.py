"""Costs as the services report them, and a project budget, against the real LiteLLM proxy."""

import pytest

from devservers.litellm.testing import StackUnavailable, shared_stack
from session_events import ends_of
from shotcaller.backends.litellm.backend import LiteLLMBackend
from shotcaller.backends.litellm.cloud_model import CloudModel
from shotcaller.jobs.events import JobFailed, JobSucceeded
from shotcaller.jobs.journal import Journal
from shotcaller.jobs.scheduler import Scheduler
from shotcaller.routing.policy import RoutingPolicy
from shotcaller.routing.registry import CapabilityRegistry, InstanceConfig
from shotcaller.shots import make_spec


@pytest.fixture(scope="module")
def stack():
    try:
        return shared_stack()
    except StackUnavailable as exc:
        pytest.skip(f"no LiteLLM proxy: {exc}")


def video_shot(number: int):
    return make_spec(
        shot_id=f"shot{number:04d}video", label=f"Shot {number}", prompt=f"a harbour at dawn, take {number}",
        media="video", quality="final", width=64, height=48, fps=24, frame_count=192,
    )  # fmt: skip


def scheduler_for(stack) -> Scheduler:
    model = CloudModel(name="cloud-video", media="video", quality="final", seconds=(4, 8, 12))
    backend = LiteLLMBackend("proxy", stack.url, stack.master_key, [model], allow_cloud=True, poll_interval=0.1)
    config = InstanceConfig(kind="litellm", name="proxy", url=stack.url, slots=2, is_local=False)
    return Scheduler(registry=CapabilityRegistry([(backend, config)]))


def run_all(scheduler, job_ids, timeout=120.0):
    ended = ends_of(scheduler, job_ids, timeout)
    return [ended[job_id] for job_id in job_ids]


def video_requests(stack) -> int:
    return sum(1 for r in stack.media.requests if r["method"] == "POST" and r["path"] == "/v1/videos")


def test_a_take_records_the_cost_the_proxy_reported_and_the_budget_stops_the_overrun(stack, tmp_path):
    journal = Journal.in_folder(str(tmp_path))
    scheduler = scheduler_for(stack)
    policy = RoutingPolicy(allow_cloud=True, budget=1.0)
    before = video_requests(stack)
    try:
        ids = [
            scheduler.submit(video_shot(n), str(tmp_path), f"shot{n}", policy=policy, journal=journal) for n in range(3)
        ]  # two slots: the price is unknown until the first video reports it, so only one starts
        results = run_all(scheduler, ids)
    finally:
        scheduler.shutdown()
    done = [r for r in results if isinstance(r, JobSucceeded)]
    refused = [r for r in results if isinstance(r, JobFailed)]
    assert len(done) == 1 and len(refused) == 2, [getattr(r, "text", "") for r in results]
    take = done[0].take
    assert take.cost == pytest.approx(0.8)  # LiteLLM's price of an 8 s sora-2 video, from its header
    assert take.cost_source == "reported by LiteLLM"
    assert video_requests(stack) - before == 1  # nothing else reached the provider
    assert journal.total_spent() == pytest.approx(0.8)
    assert journal.spending() == {"litellm": pytest.approx(0.8)}
    for failure in refused:
        assert "would cost ~0.80" in failure.text and "spent 0.80 of its 1.00, 0.20 left" in failure.text

    # A later session of the same project sees the same spending in its journal.
    again = scheduler_for(stack)
    try:
        job_id = again.submit(video_shot(9), str(tmp_path), "shot9", policy=policy, journal=Journal(journal.path))
        (result,) = run_all(again, [job_id])
    finally:
        again.shutdown()
    assert isinstance(result, JobFailed) and "spent 0.80 of its 1.00" in result.text
    assert video_requests(stack) - before == 1
