"""Servers that need a key: every kind of credential for each client, against the reference servers
started behind an access rule (devservers/common/auth.py), through the session as Blender builds it.

Each run scans everything it wrote (takes, their records, the journal, the decision log) and the
log records for every secret value, the basic-auth header's base64 included.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from PIL import Image

from devservers.comfyui.launch import start_server as start_comfyui
from devservers.wan2gp.launch import start_server as start_wan2gp
from shotcaller.jobs.events import TERMINAL_EVENTS, JobFailed, JobSucceeded
from shotcaller.jobs.journal import Journal
from shotcaller.jobs.session import BackendSettings, Session
from shotcaller.routing.health import BreakerState
from shotcaller.routing.registry import InstanceConfig
from shotcaller.shots import make_spec

TOKEN = "tok-5f1e0c7a9b2d4e6f"
USER, PASSWORD = "studio", "pw-8c3d1a7e5b"
HEADER = ("CF-Access-Client-Secret", "hdr-2b9e7d4c1a6f")

# kind -> (the server's flags, the entry's options, every secret that must not show)
KINDS = {
    "token": (["--require-token", TOKEN], {"bearer_token": TOKEN}, [TOKEN]),
    "basic": (
        ["--require-basic", f"{USER}:{PASSWORD}"],
        {"basic_user": USER, "basic_password": PASSWORD},
        [PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()],
    ),
    "header": (["--require-header", f"{HEADER[0]}: {HEADER[1]}"], {"headers": [HEADER]}, [HEADER[1]]),
}
WRONG = {
    "token": {"bearer_token": "tok-wrong-000000"},
    "basic": {"basic_user": USER, "basic_password": "pw-wrong-0000"},
    "header": {"headers": [(HEADER[0], "hdr-wrong-0000")]},
}


def shot(**overrides):
    fields = {"shot_id": "keyshot0001", "label": "Key", "prompt": "a lighthouse at dusk", "width": 640,
              "height": 352, "frame_count": 17, "fps": 8}  # fmt: skip
    fields.update(overrides)
    return make_spec(**fields)


def run(session: Session, spec, folder: Path, journal: Journal | None = None, timeout: float = 90):
    job_id = session.scheduler.submit(spec, str(folder), "take", journal=journal)
    while True:
        event = session.events.get(timeout=timeout)
        if event.job_id == job_id and isinstance(event, TERMINAL_EVENTS):
            return event


def session_for(kind: str, url: str, options: dict, tmp_path: Path) -> Session:
    config = InstanceConfig(kind=kind, name="gpu-rented", url=url, options=options)
    return Session(
        BackendSettings(
            instances=(config,),
            decision_log_path=str(tmp_path / "takes" / "shotcaller_decisions.jsonl"),
            probe_interval_seconds=0,
        )
    )


def assert_nothing_leaked(tmp_path: Path, secrets: list[str], caplog: pytest.LogCaptureFixture) -> None:
    written = [p for p in (tmp_path / "takes").rglob("*") if p.is_file()]
    assert written, "the run wrote nothing to scan"
    for path in written:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} in {path}"
    for record in caplog.records:
        for secret in secrets:
            assert secret not in record.getMessage()


def init_image(tmp_path: Path) -> str:
    path = tmp_path / "start.png"
    Image.new("RGB", (64, 36), (200, 120, 40)).save(path)
    return str(path)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_comfyui_behind_each_kind_of_credential_makes_the_shot(kind, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    flags, options, secrets = KINDS[kind]
    with start_comfyui(tmp_path / "server", extra_args=flags) as server:
        session = session_for("comfyui", server.url, options, tmp_path)
        journal = Journal(str(tmp_path / "takes" / "shotcaller_journal.sqlite"))
        try:
            # An init image: the upload goes through the same door as the prompt, the websocket and the download.
            done = run(session, shot(init_image=init_image(tmp_path)), tmp_path / "takes", journal)
        finally:
            session.close()
            journal.close()
        log = server.log()
    assert isinstance(done, JobSucceeded), done
    assert done.take.files and Path(done.take.files[0]).stat().st_size > 0
    assert "requires" in log and not any(secret in log for secret in secrets)
    assert_nothing_leaked(tmp_path, secrets, caplog)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_wan2gp_behind_each_kind_of_credential_makes_the_shot(kind, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    flags, options, secrets = KINDS[kind]
    with start_wan2gp(tmp_path / "server", extra_args=flags) as server:
        session = session_for("wan2gp", server.url + "/mcp/", options, tmp_path)
        journal = Journal(str(tmp_path / "takes" / "shotcaller_journal.sqlite"))
        try:
            done = run(session, shot(init_image=init_image(tmp_path)), tmp_path / "takes", journal)
        finally:
            session.close()
            journal.close()
    assert isinstance(done, JobSucceeded), done
    assert done.take.backend_kind == "wan2gp" and Path(done.take.files[0]).stat().st_size > 0
    assert_nothing_leaked(tmp_path, secrets, caplog)


@pytest.mark.parametrize("service", ["comfyui", "wan2gp"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_wrong_credentials_are_their_own_refusal_and_do_not_open_the_breaker(service, kind, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    flags, _, secrets = KINDS[kind]
    start = start_comfyui if service == "comfyui" else start_wan2gp
    with start(tmp_path / "server", extra_args=flags) as server:
        url = server.url if service == "comfyui" else server.url + "/mcp/"
        session = session_for(service, url, WRONG[kind], tmp_path)
        try:
            failed = run(session, shot(), tmp_path / "takes")
            state = session.scheduler.router.health.state("gpu-rented")
        finally:
            session.close()
    assert isinstance(failed, JobFailed), failed
    check = {"token": "check the token", "basic": "check the user and password", "header": "check the headers"}[kind]
    assert "on gpu-rented refused the credentials" in failed.text and check in failed.text
    assert "unreachable" not in failed.text.lower() and "not reachable" not in failed.text
    assert state is BreakerState.CLOSED  # a server that answers is not a dead one
    wrong = next(iter(v for v in WRONG[kind].values() if isinstance(v, str) and "wrong" in v), None)
    assert wrong is None or wrong not in failed.text
    assert_nothing_leaked(tmp_path, [*secrets, "tok-wrong-000000", "pw-wrong-0000", "hdr-wrong-0000"], caplog)


@pytest.mark.parametrize("service", ["comfyui", "wan2gp"])
def test_missing_credentials_say_the_server_asks_for_some(service, tmp_path):
    start = start_comfyui if service == "comfyui" else start_wan2gp
    with start(tmp_path / "server", extra_args=["--require-token", TOKEN]) as server:
        url = server.url if service == "comfyui" else server.url + "/mcp/"
        session = session_for(service, url, {}, tmp_path)
        try:
            failed = run(session, shot(), tmp_path / "takes")
        finally:
            session.close()
    assert isinstance(failed, JobFailed), failed
    assert "gpu-rented asks for credentials (HTTP 401" in failed.text
    assert "preferences" in failed.text


def test_a_probe_that_is_refused_leaves_the_breaker_closed_and_says_why_on_every_offer(tmp_path):
    from shotcaller.routing.discovery import probe_instance

    with start_comfyui(tmp_path / "server", extra_args=["--require-token", TOKEN]) as server:
        session = session_for("comfyui", server.url, WRONG["token"], tmp_path)
        try:
            entry = session.registry.instances[0]
            found = probe_instance(session.registry, session.scheduler.health, entry)
            state = session.scheduler.health.state(entry.instance_id)
            view = session.registry.views()[0]
        finally:
            session.close()
    assert "refused the credentials" in found.error and state is BreakerState.CLOSED
    assert view.offers and all("refused the credentials" in view.missing[o.name] for o in view.offers)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_websocket_upgrade_carries_the_credentials_and_a_refusal_is_said_so(kind, tmp_path):
    """The job would fall back to polling without events: the stream itself is checked here."""
    from shotcaller.backends.base import CredentialsRefused
    from shotcaller.backends.comfyui.client import ComfyUIClient
    from shotcaller.backends.credentials import from_options
    from shotcaller.backends.policy import TransportPolicy

    flags, options, _ = KINDS[kind]
    with start_comfyui(tmp_path / "server", extra_args=flags) as server:
        good = ComfyUIClient(server.url, 5.0, policy=TransportPolicy(credentials=from_options(options)))
        with good.events("client-ok") as stream:
            event = stream.receive(5.0)
        wrong = ComfyUIClient(server.url, 5.0, policy=TransportPolicy(credentials=from_options(WRONG[kind])))
        with pytest.raises(CredentialsRefused, match=r"refused the credentials \(HTTP 403 for its event stream"):
            wrong.events("client-wrong")
        with pytest.raises(CredentialsRefused, match=r"asks for credentials \(HTTP 401 for its event stream"):
            ComfyUIClient(server.url, 5.0).events("client-none")
    assert event is not None and event.type == "status"
