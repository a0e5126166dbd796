"""What real servers did to the scheduler, reproduced with the reference ComfyUI's modes: a damaged
model file fails over to a server with a good copy, and a cancel keeps the server busy until it is idle."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

from devservers.comfyui.launch import start_server
from session_events import events_until_done
from shotcaller.jobs.events import JobCancelled, JobProgress, JobRouted, JobStarted, JobSucceeded
from shotcaller.jobs.session import BackendSettings, Session
from shotcaller.routing.registry import InstanceConfig
from shotcaller.shots import make_spec


def shot(shot_id: str, **overrides):
    fields = {"shot_id": shot_id, "label": shot_id, "prompt": "a lighthouse at dusk", "width": 640,
              "height": 352, "frame_count": 17, "fps": 8}  # fmt: skip
    fields.update(overrides)
    return make_spec(**fields)


def test_a_damaged_model_file_fails_over_to_a_server_with_a_good_copy(tmp_path, sessions):
    damaged = ["--damaged-model", "vae/wan2.2_vae.safetensors"]
    with start_server(tmp_path / "a", extra_args=damaged) as first, start_server(tmp_path / "b") as second:
        settings = BackendSettings(
            probe_interval_seconds=0,
            instances=(
                InstanceConfig("comfyui", name="gpu-1", url=first.url),
                InstanceConfig("comfyui", name="gpu-2", url=second.url),
            ),
        )
        session = Session(settings)
        sessions.append(session)
        events = events_until_done(session, session.scheduler.submit(shot("damaged01"), str(tmp_path / "t"), "take"))
    routed = [e for e in events if isinstance(e, JobRouted)]
    assert [e.instance_id for e in routed] == ["gpu-1", "gpu-2"]
    assert "the VAE file wan2.2_vae.safetensors on ComfyUI at" in routed[1].explanation
    assert isinstance(events[-1], JobSucceeded) and events[-1].take.backend_instance == "gpu-2"


def queue_ids(url: str) -> tuple[list[str], list[str]]:
    with urllib.request.urlopen(url + "/queue", timeout=10) as response:
        queue = json.loads(response.read())
    return [i[1] for i in queue["queue_running"]], [i[1] for i in queue["queue_pending"]]


def test_after_a_cancel_no_job_is_sent_to_the_server_until_it_is_idle(tmp_path, sessions):
    lag = ["--interrupt-lag-seconds", "3"]
    with start_server(tmp_path / "a", step_seconds=0.05, extra_args=lag) as server:
        session = Session(
            BackendSettings(
                probe_interval_seconds=0, instances=(InstanceConfig("comfyui", name="gpu-1", url=server.url),)
            )
        )
        sessions.append(session)
        scheduler = session.scheduler
        first = scheduler.submit(shot("cancel01"), str(tmp_path / "t"), "first")
        while True:  # until it samples
            event = session.events.get(timeout=60)
            if isinstance(event, JobProgress) and event.job_id == first and "step" in event.message:
                break
        overlaps: list[tuple[list[str], list[str]]] = []
        watching = threading.Event()

        def watch() -> None:  # the server's queue must never hold the next prompt beside the cancelled one
            while not watching.is_set():
                running, pending = queue_ids(server.url)
                if running and pending:
                    overlaps.append((running, pending))
                watching.wait(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        scheduler.cancel(first)
        second = scheduler.submit(shot("cancel02"), str(tmp_path / "t"), "second")
        cancelled = events_until_done(session, first)[-1]
        assert isinstance(cancelled, JobCancelled)
        assert queue_ids(server.url)[0], "the cancel was reported only once the server was idle"
        done = events_until_done(session, second)
        watching.set()
        watcher.join()
    assert isinstance(done[-1], JobSucceeded), done[-1]
    assert overlaps == []


# --- Wan2GP ---------------------------------------------------------------------------------------


def wan2gp_session(url: str, sessions: list[Session]) -> Session:
    settings = BackendSettings(
        probe_interval_seconds=0, instances=(InstanceConfig("wan2gp", name="gpu-1", url=url, vram_gb=24),)
    )
    session = Session(settings)
    sessions.append(session)
    return session


def test_a_server_that_cannot_download_weights_costs_one_attempt_and_others_hear_its_state(tmp_path, sessions):
    from devservers.wan2gp.launch import start_server as start_wan2gp

    with start_wan2gp(tmp_path / "w", step_seconds=0.02, fail_next="no-weights", weights="missing") as server:
        session = wan2gp_session(server.mcp_url, sessions)
        first = session.scheduler.submit(shot("weights01", width=448, height=256), str(tmp_path / "t"), "a")
        second = session.scheduler.submit(shot("weights02", width=448, height=256), str(tmp_path / "t"), "b")
        events_first = events_until_done(session, first)
        events_second = events_until_done(session, second)
    failed = events_first[-1]
    assert failed.error_kind == "missing_resource"
    started = next(e for e in events_first if isinstance(e, JobStarted))
    assert failed.started_at > 0 and failed.seconds > 0  # a failed shot reports when it ran and how long
    assert failed.started_at <= time.time() and started.job_id == first
    assert len([e for e in events_first if isinstance(e, JobRouted)]) == 1  # not once per model
    assert "could not fetch pose/dw-ll_ucoco_384.onnx" in failed.message
    assert failed.text.endswith("connect it to the internet once, or copy the weights into its ckpts folder.")
    other = events_second[-1]
    assert other.error_kind == "no_route"
    assert (other.started_at, other.seconds) == (0.0, 0.0)  # it never started
    # The other shot hears of the server's state and the fix, in its own terms, not of the first job.
    assert "Wan2GP on gpu-1: cannot download model weights since" in other.message
    assert "copy the weights into its ckpts folder" in other.message
    assert first not in other.message and "job" not in other.message


def test_a_wan2gp_cancel_is_immediate_and_the_next_shot_is_not_refused_as_busy(tmp_path, sessions):
    from devservers.wan2gp.launch import start_server as start_wan2gp

    with start_wan2gp(tmp_path / "w", step_seconds=0.05, fail_next="slow-cancel") as server:
        session = wan2gp_session(server.mcp_url, sessions)
        scheduler = session.scheduler
        first = scheduler.submit(shot("wcancel01", width=448, height=256), str(tmp_path / "t"), "a")
        while True:
            event = session.events.get(timeout=60)
            if isinstance(event, JobProgress) and event.job_id == first and event.message.startswith("Loading"):
                break
        scheduler.cancel(first)
        second = scheduler.submit(shot("wcancel02", width=448, height=256), str(tmp_path / "t"), "b")
        cancelled = events_until_done(session, first)[-1]
        assert isinstance(cancelled, JobCancelled)
        assert cancelled.started_at > 0 and cancelled.seconds > 0
        assert server.state()["busy"], "the cancel was reported only once the server was idle"
        done = events_until_done(session, second, timeout=120)
    assert isinstance(done[-1], JobSucceeded), done[-1]
    assert [e.attempt for e in done if isinstance(e, JobRouted)] == [1]
    assert not any("busy" in getattr(e, "message", "") for e in done)
