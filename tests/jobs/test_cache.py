import os

from backend_doubles import ScriptedBackend
from session_events import end_of as finish
from shotcaller.jobs import cache
from shotcaller.jobs.events import JobSucceeded
from shotcaller.jobs.journal import Journal
from shotcaller.jobs.scheduler import Scheduler
from shotcaller.shots import make_spec


def spec(**overrides):
    fields = {"shot_id": "shot0001aaaa", "label": "Intro", "prompt": "a lighthouse at dusk", "seed": 7}
    fields.update(overrides)
    return make_spec(**fields)


def test_the_key_is_the_content_of_the_request_not_its_shot(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"one")
    copy = tmp_path / "b.png"
    copy.write_bytes(b"one")
    base = cache.request_hash(spec(init_image=str(image)))
    assert cache.request_hash(spec(init_image=str(copy), shot_id="othershot99", label="Other")) == base
    assert cache.request_hash(spec(init_image=str(image), seed=8)) != base
    assert cache.request_hash(spec(init_image=str(image), quality="final")) != base
    copy.write_bytes(b"two")
    assert cache.request_hash(spec(init_image=str(copy))) != base


def test_an_identical_request_is_served_from_its_take_without_calling_the_backend(tmp_path):
    journal = Journal.in_folder(str(tmp_path))
    backend = ScriptedBackend("box")
    scheduler = Scheduler([backend])
    try:
        first = finish(scheduler, scheduler.submit(spec(), str(tmp_path), "one", journal=journal))
        assert isinstance(first, JobSucceeded) and len(backend.calls) == 1
        second = finish(
            scheduler, scheduler.submit(spec(shot_id="shot0002bbbb"), str(tmp_path), "two", journal=journal)
        )
        assert isinstance(second, JobSucceeded)
        assert len(backend.calls) == 1  # no backend call
        assert second.take.files == first.take.files and second.take.cost_source == "cache"
        assert "nothing was generated" in second.take.routing_reason
        assert second.take.shot_id == "shot0002bbbb"

        redo = finish(scheduler, scheduler.submit(spec(), str(tmp_path), "three", journal=journal, bypass_cache=True))
        assert isinstance(redo, JobSucceeded) and len(backend.calls) == 2  # Redo generates on purpose

        for path in first.take.files + redo.take.files:
            os.unlink(path)  # the cached files went missing: a miss, not an error
        missing = finish(scheduler, scheduler.submit(spec(), str(tmp_path), "four", journal=journal))
        assert isinstance(missing, JobSucceeded) and len(backend.calls) == 3
        assert missing.take.cost_source != "cache"
    finally:
        scheduler.shutdown()


def test_a_take_made_by_a_template_no_longer_offered_is_not_reused(tmp_path):
    journal = Journal.in_folder(str(tmp_path))
    scheduler = Scheduler([ScriptedBackend("box")])
    try:
        assert isinstance(
            finish(scheduler, scheduler.submit(spec(), str(tmp_path), "one", journal=journal)), JobSucceeded
        )
    finally:
        scheduler.shutdown()
    assert cache.find(journal, cache.request_hash(spec()), {("scripted", "t2v", "")}) is not None
    assert cache.find(journal, cache.request_hash(spec()), {("scripted", "t2v", "another model")}) is None
    assert cache.find(journal, cache.request_hash(spec()), {("comfyui", "t2v", "")}) is None
