"""The session: backends from settings through the kind -> factory table, pools, policy, decision log."""

import pytest

from backend_doubles import ScriptedBackend
from shotcaller.backends.urls import UnsafeURL
from shotcaller.jobs import session as session_module
from shotcaller.jobs.events import TERMINAL_EVENTS, JobSucceeded
from shotcaller.jobs.session import (
    BACKEND_FACTORIES,
    BackendSettings,
    Session,
    build_backends,
    build_instances,
    close_session,
    get_session,
    register_backend_kind,
    session_for,
)
from shotcaller.routing.decision_log import read_log
from shotcaller.routing.policy import RoutingPolicy
from shotcaller.routing.registry import InstanceConfig, Locality
from shotcaller.shots import make_spec


@pytest.fixture
def scripted_kind(monkeypatch):
    """Plug a test backend kind in with one line, as wan2gp and litellm will be."""
    made = []

    def factory(config, settings):
        backend = ScriptedBackend(config.name, max_concurrent=config.slots, base_url=config.url)
        made.append(backend)
        return backend

    monkeypatch.setitem(BACKEND_FACTORIES, "scripted", None)  # restored after the test
    register_backend_kind("scripted", factory)
    return made


@pytest.fixture(autouse=True)
def no_global_session():
    yield
    close_session()


def test_single_comfyui_url_keeps_working_exactly_as_before():
    from shotcaller.backends.comfyui.backend import ComfyUIBackend

    settings = BackendSettings(
        comfyui_url="http://127.0.0.1:8188/", template_folder="", jobs_per_server=2, online_access=False
    )
    (backend,) = build_backends(settings)
    assert isinstance(backend, ComfyUIBackend)
    assert (backend.instance_id, backend.base_url, backend.max_concurrent) == (
        "127.0.0.1:8188",
        "http://127.0.0.1:8188",
        2,
    )
    assert "wan22_ti2v_5b_t2v" in backend.templates


def test_single_remote_url_without_online_access_is_refused_with_the_fix():
    with pytest.raises(UnsafeURL, match="online access is off"):
        build_backends(BackendSettings(comfyui_url="http://192.168.1.20:8188"))


def test_nothing_configured_builds_nothing():
    assert build_instances(BackendSettings()) == ([], [])


def test_pools_build_every_instance_with_its_own_config(scripted_kind):
    settings = BackendSettings(
        online_access=True,
        instances=(
            InstanceConfig("scripted", url="http://192.168.1.20:8188", slots=2, cost_per_second=0.01),
            InstanceConfig("scripted", url="http://192.168.1.20:8188"),  # same host: a distinct name
            InstanceConfig("scripted", name="gpu-box-2", url="http://gpu-box-2:8188", vram_gb=24),
            InstanceConfig("scripted", name="off", enabled=False),
        ),
    )
    built, problems = build_instances(settings)
    assert problems == []
    assert [config.name for _, config in built] == ["192.168.1.20:8188", "192.168.1.20:8188-2", "gpu-box-2"]
    assert [b.max_concurrent for b in scripted_kind] == [2, 1, 1]
    assert built[0][1].cost_per_second == 0.01 and built[2][1].locality is Locality.LOCAL_NETWORK


def test_one_bad_instance_is_skipped_and_reported_the_rest_work(scripted_kind):
    settings = BackendSettings(
        online_access=False,
        instances=(
            InstanceConfig("scripted", name="cloud", url="https://api.example.com"),
            InstanceConfig("nonexistent", name="odd", url="http://127.0.0.1:1"),
            InstanceConfig("scripted", name="here", url="http://127.0.0.1:8188"),
        ),
    )
    built, problems = build_instances(settings)
    assert [config.name for _, config in built] == ["here"]
    assert len(problems) == 2
    assert "online access is off" in problems[0]
    assert "unknown backend kind 'nonexistent'" in problems[1]


def test_comfyui_factory_is_registered_and_wires_template_folders(tmp_path):
    settings = BackendSettings(
        instances=(
            InstanceConfig(
                "comfyui", name="a", url="http://127.0.0.1:8188", slots=3, options={"template_folder": str(tmp_path)}
            ),
        )
    )
    (backend,) = build_backends(settings)
    assert backend.kind == "comfyui" and backend.instance_id == "a" and backend.max_concurrent == 3


def run_one(session, tmp_path, **submit_kwargs):
    spec = make_spec(shot_id="shot0001aaaa", prompt="a lighthouse")
    job_id = session.scheduler.submit(spec, str(tmp_path), "s", **submit_kwargs)
    while True:
        event = session.events.get(timeout=10)
        if event.job_id == job_id and isinstance(event, TERMINAL_EVENTS):
            return event


def test_session_runs_a_pool_with_policy_and_decision_log(tmp_path, scripted_kind):
    log_path = tmp_path / "project_decisions.jsonl"
    settings = BackendSettings(
        online_access=True,
        decision_log_path=str(log_path),
        probe_interval_seconds=0,
        instances=(
            InstanceConfig("scripted", name="cloud", url="https://api.example.com"),
            InstanceConfig("scripted", name="here", url="http://127.0.0.1:1"),
        ),
    )
    session = Session(settings)
    try:
        session.set_policy(RoutingPolicy(force_local=True))
        assert session.policy.force_local
        done = run_one(session, tmp_path)
        assert isinstance(done, JobSucceeded) and done.take.backend_instance == "here"
        other_log = tmp_path / "other.jsonl"
        session.set_decision_log(str(other_log))
        run_one(session, tmp_path)
        assert [r["chosen"]["instance"] for r in read_log(str(log_path))] == ["here"]
        assert len(list(read_log(str(other_log)))) == 1
        assert {r.status.instance_id for r in session.fleet_status()} == {"cloud", "here"}
    finally:
        session.close()


def test_prober_runs_in_the_background_and_stops_with_the_session(scripted_kind):
    session = Session(BackendSettings(instances=(InstanceConfig("scripted", name="here"),), probe_interval_seconds=60))
    thread = session.prober._thread
    assert thread is not None and thread.is_alive()
    session.close()
    thread.join(2)
    assert not thread.is_alive()


def test_get_session_reuses_equal_settings_and_rebuilds_changed_ones(scripted_kind):
    settings = BackendSettings(instances=(InstanceConfig("scripted", name="a"),), probe_interval_seconds=0)
    first = get_session(settings)
    assert (
        get_session(BackendSettings(instances=(InstanceConfig("scripted", name="a"),), probe_interval_seconds=0))
        is first
    )
    second = get_session(BackendSettings(instances=(InstanceConfig("scripted", name="b"),), probe_interval_seconds=0))
    assert second is not first and session_module.current_session() is second


def test_session_for_says_whether_get_session_would_build_one(scripted_kind):
    settings = BackendSettings(instances=(InstanceConfig("scripted", name="a"),), probe_interval_seconds=0)
    assert session_for(settings) is None
    first = get_session(settings)
    assert session_for(settings) is first
    assert session_for(BackendSettings(instances=(InstanceConfig("scripted", name="b"),))) is None  # idle: rebuilt


def test_wan2gp_kind_is_registered():
    settings = BackendSettings(
        instances=(InstanceConfig("wan2gp", name="wan", url="http://127.0.0.1:7866/mcp/", vram_gb=12.0),)
    )
    (backend,) = build_backends(settings)
    assert (backend.kind, backend.instance_id, backend.max_concurrent) == ("wan2gp", "wan", 1)
    assert backend.offers()


def test_a_factory_that_raises_is_reported_not_fatal(monkeypatch, scripted_kind):
    def broken(config, settings):
        raise RuntimeError("the backend module is half-written")

    monkeypatch.setitem(BACKEND_FACTORIES, "broken", broken)
    settings = BackendSettings(
        instances=(InstanceConfig("broken", name="b"), InstanceConfig("scripted", name="ok")),
    )
    built, problems = build_instances(settings)
    assert [config.name for _, config in built] == ["ok"]
    assert problems == ["broken b: the backend module is half-written"]


def test_problems_lists_skipped_instances_and_failed_probes(scripted_kind):
    from shotcaller.routing.registry import Discovery

    settings = BackendSettings(
        probe_interval_seconds=0,
        instances=(
            InstanceConfig("scripted", name="cloud", url="https://api.example.com"),
            InstanceConfig("scripted", name="here", url="http://127.0.0.1:1"),
        ),
    )
    session = Session(settings)
    try:
        session.registry.record_discovery("here", Discovery(error="nothing is listening at http://127.0.0.1:1"))
        problems = session.problems()
    finally:
        session.close()
    assert len(problems) == 2
    assert "online access is off" in problems[0]
    assert problems[1] == "scripted on here: nothing is listening at http://127.0.0.1:1"


def test_api_keys_in_options_stay_out_of_repr():
    config = InstanceConfig("litellm", name="proxy", options={"api_key": "sk-secret"})
    assert "sk-secret" not in repr(config) and "sk-secret" not in repr(BackendSettings(instances=(config,)))
