"""One line per event for the headless batch and the logs."""

from __future__ import annotations

from shotcaller.jobs.events import JobFailed, JobStarted, describe


def test_a_line_names_the_shot_by_its_strip_when_it_is_known():
    failed = JobFailed(
        job_id="55799d6c" + "0" * 24,
        shot_id="66071734" + "0" * 24,
        error_kind="unreachable",
        message="nothing is listening",
        hint="Start ComfyUI.",
    )
    assert (
        describe(failed, "02 Keeper")
        == "[failed] '02 Keeper' job 55799d6c: unreachable: nothing is listening. Start ComfyUI."
    )
    # Without a name (a log line from the scheduler), the shot's id is all there is to say.
    started = JobStarted(job_id="55799d6c" + "0" * 24, shot_id="66071734" + "0" * 24, backend="comfyui 'a'")
    assert describe(started) == "[started] shot 66071734 job 55799d6c: running on comfyui 'a'"
