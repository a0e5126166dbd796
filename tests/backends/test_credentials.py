"""Credentials: sent to their server's origin only, never shown, refused when they cannot be sent."""

from __future__ import annotations

import base64

import pytest
from hostile_servers import HostileServer

from shotcaller.backends.base import CredentialsRefused
from shotcaller.backends.comfyui.client import ComfyUIClient
from shotcaller.backends.credentials import (
    Credentials,
    InvalidCredentials,
    environment_names,
    from_environment,
    from_options,
    parse_headers,
)
from shotcaller.backends.policy import TransportPolicy

TOKEN = "tok-0a1b2c3d4e5f"


def test_headers_go_to_the_servers_own_origin_only():
    creds = Credentials(url="http://Gpu-Box:8188", bearer_token=TOKEN, headers=(("X-Key", "v-123456"),))
    wanted = {"Authorization": f"Bearer {TOKEN}", "X-Key": "v-123456"}
    assert creds.headers_for("http://gpu-box:8188/prompt") == wanted
    assert creds.headers_for("ws://gpu-box:8188/ws?clientId=1") == wanted  # the websocket upgrade
    for elsewhere in ("http://gpu-box:8189/x", "https://gpu-box:8188/x", "http://evil:8188/x", "http://gpu-box/x"):
        assert creds.headers_for(elsewhere) == {}, elsewhere
    assert Credentials(url="https://host", bearer_token=TOKEN).headers_for("https://host:443/a")  # default port


def test_basic_auth_is_utf8_base64_and_nothing_shows_in_repr_or_scrubbed_text():
    creds = Credentials(url="http://h:1", basic_user="ana", basic_password="päss-word")
    encoded = base64.b64encode("ana:päss-word".encode()).decode()
    assert creds.headers_for("http://h:1/") == {"Authorization": f"Basic {encoded}"}
    assert repr(creds) == "Credentials(basic auth)" and "päss" not in str(TransportPolicy(credentials=creds))
    assert creds.scrub(f"echo päss-word and {encoded}") == "echo *** and ***"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"bearer_token": TOKEN, "basic_user": "a"}, "keep one of them"),
        ({"bearer_token": "a\r\nX-Evil: 1"}, "line break"),
        ({"headers": (("Host", "x"),)}, "Shotcaller sets the header Host"),
        ({"headers": (("X-A", "1"), ("x-a", "2"))}, "given twice"),
        ({"headers": (("Bad Name", "1"),)}, "not a header name"),
        ({"headers": (("Authorization", "Custom x"),), "bearer_token": TOKEN}, "cannot both be sent"),
        ({"basic_user": "a:b"}, "cannot contain ':'"),
        ({"bearer_token": " tok"}, "space"),
    ],
)
def test_credentials_that_cannot_be_sent_are_refused_where_they_are_entered(fields, words):
    with pytest.raises(InvalidCredentials, match=words):
        Credentials(server="gpu-rented", **fields)


def test_options_and_environment_named_per_server():
    assert environment_names("gpu-rented")["bearer_token"] == "SHOTCALLER_GPU_RENTED_TOKEN"
    assert environment_names("127.0.0.1:8188")["headers"] == "SHOTCALLER_127_0_0_1_8188_HEADERS"
    environ = {"SHOTCALLER_GPU_RENTED_TOKEN": f" {TOKEN} ", "SHOTCALLER_GPU_RENTED_HEADERS": "A: 1\nB-C: two\n",
               "SHOTCALLER_OTHER_TOKEN": "not ours"}  # fmt: skip
    options, used = from_environment("gpu-rented", environ)
    creds = from_options(options, url="http://h:1", server="gpu-rented")
    assert creds.bearer_token == TOKEN and creds.headers == (("A", "1"), ("B-C", "two"))
    assert used == ["SHOTCALLER_GPU_RENTED_TOKEN", "SHOTCALLER_GPU_RENTED_HEADERS"]
    assert "$SHOTCALLER_GPU_RENTED_TOKEN" in creds.where
    assert parse_headers([{"name": " X ", "value": " y "}, {"name": "", "value": ""}]) == (("X", "y"),)
    with pytest.raises(InvalidCredentials, match="no ':'"):
        parse_headers("just a line")


def test_a_refusal_that_echoes_the_token_never_shows_it():
    server = HostileServer()
    try:
        server.on("GET", "/system_stats", (401, "application/json", f'{{"error": "bad token {TOKEN}"}}'.encode()))
        policy = TransportPolicy(credentials=Credentials(server="ComfyUI on gpu-rented", bearer_token=TOKEN))
        with pytest.raises(CredentialsRefused) as caught:
            ComfyUIClient(server.url, 2.0, policy=policy).system_stats()
    finally:
        server.close()
    assert "ComfyUI on gpu-rented refused the credentials (HTTP 401" in str(caught.value)
    assert "check the token" in str(caught.value) and TOKEN not in str(caught.value)
    assert server.headers_seen()[0]["authorization"] == f"Bearer {TOKEN}"


def test_the_environment_adds_to_or_replaces_an_entrys_credentials_by_kind():
    from shotcaller.backends.credentials import with_environment

    entry = {"basic_user": "u", "basic_password": "p-1234", "headers": [("X-A", "1")], "job_minutes": 5}
    merged = with_environment(entry, "", "http://127.0.0.1:8188", {"SHOTCALLER_127_0_0_1_8188_TOKEN": TOKEN})
    assert merged["bearer_token"] == TOKEN and "basic_user" not in merged and merged["headers"] == [("X-A", "1")]
    assert merged["job_minutes"] == 5 and "SHOTCALLER_127_0_0_1_8188_TOKEN" in merged["credentials_where"]
    assert with_environment(entry, "box", "http://h:1", {}) == entry


def test_a_password_typed_into_the_address_is_refused_without_being_repeated():
    from shotcaller.jobs.session import BackendSettings, build_instances
    from shotcaller.routing.registry import InstanceConfig

    good = InstanceConfig(kind="comfyui", name="ok", url="http://127.0.0.1:8188")
    typed = InstanceConfig(kind="comfyui", url="http://ana:pw-in-url-1234@127.0.0.1:8189")
    built, problems = build_instances(BackendSettings(instances=(good, typed), probe_interval_seconds=0))
    assert len(built) == 1 and len(problems) == 1
    assert "Access: User and Password" in problems[0] and "pw-in-url-1234" not in problems[0]
    assert "***@127.0.0.1:8189" in problems[0]
