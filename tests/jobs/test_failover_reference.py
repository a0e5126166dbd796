"""Failover against real reference ComfyUI servers, through the session exactly as Blender builds it."""

from devservers.comfyui.launch import start_server
from session_events import run
from shotcaller.jobs.events import JobRouted, JobSucceeded
from shotcaller.jobs.session import BackendSettings, Session
from shotcaller.routing.registry import InstanceConfig
from shotcaller.shots import make_spec


def small_shot(**overrides):
    fields = {
        "shot_id": "refshot0001",
        "label": "Ref",
        "prompt": "a lighthouse at dusk",
        "width": 640,
        "height": 352,
        "frame_count": 17,
        "fps": 8,
    }
    fields.update(overrides)
    return make_spec(**fields)


def test_single_comfyui_url_session_generates_as_before(tmp_path, sessions):
    with start_server(tmp_path / "a") as server:
        session = Session(
            BackendSettings(comfyui_url=server.url, template_folder="", jobs_per_server=1, online_access=False)
        )
        sessions.append(session)
        events = run(session, small_shot(), tmp_path / "takes")
    done = events[-1]
    assert isinstance(done, JobSucceeded), events[-1]
    assert done.take.backend_kind == "comfyui" and done.take.template == "wan22_ti2v_5b_t2v"
    assert "ComfyUI on 127.0.0.1:" in done.take.routing_reason


def test_out_of_memory_on_one_server_reroutes_to_the_other(tmp_path, sessions):
    with start_server(tmp_path / "a", fail_next="oom") as first, start_server(tmp_path / "b") as second:
        settings = BackendSettings(
            probe_interval_seconds=0,
            instances=(
                InstanceConfig("comfyui", name="gpu-box-1", url=first.url),
                InstanceConfig("comfyui", name="gpu-box-2", url=second.url),
            ),
        )
        session = Session(settings)
        sessions.append(session)
        events = run(session, small_shot(), tmp_path / "takes")
    routed = [e for e in events if isinstance(e, JobRouted)]
    assert [e.instance_id for e in routed] == ["gpu-box-1", "gpu-box-2"]
    assert "ran out of memory" in routed[1].explanation and routed[1].adjustments == ""
    assert isinstance(events[-1], JobSucceeded) and events[-1].take.backend_instance == "gpu-box-2"


def test_out_of_memory_on_the_only_server_steps_resolution_down(tmp_path, sessions):
    with start_server(tmp_path / "a", fail_next="oom") as server:
        settings = BackendSettings(
            probe_interval_seconds=0, instances=(InstanceConfig("comfyui", name="gpu-box-1", url=server.url),)
        )
        session = Session(settings)
        sessions.append(session)
        events = run(session, small_shot(), tmp_path / "takes")
    routed = [e for e in events if isinstance(e, JobRouted)]
    assert len(routed) == 2
    assert routed[1].adjustments == "resolution 640x352 -> 480x256 after running out of memory on ComfyUI on gpu-box-1"
    done = events[-1]
    assert isinstance(done, JobSucceeded)
    assert done.take.parameters.get("width") in (480, None)
    assert "Settings changed: resolution 640x352 -> 480x256" in done.take.routing_reason
