import socket

import pytest

from shotcaller.backends.policy import InvalidLimit, TransportPolicy
from shotcaller.backends.urls import UnsafeURL, check_service_url, connect, is_loopback_host
from shotcaller.routing.registry import InstanceConfig


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "localhost", "[::1]", "::1"])
def test_loopback_hosts(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", ["10.0.0.2", "gpu-box", "192.168.1.4", "example.com", "evil.localhost", "0.0.0.0", "::ffff:10.0.0.1"]
)
def test_remote_hosts(host):
    assert not is_loopback_host(host)


def test_remote_url_needs_online_access():
    with pytest.raises(UnsafeURL, match="online access is off"):
        check_service_url("http://gpu-box:8188", online_access=False, service="ComfyUI")
    assert check_service_url("http://gpu-box:8188/", online_access=True) == "http://gpu-box:8188"


def test_garbage_url_says_how_to_write_it():
    with pytest.raises(UnsafeURL, match=r"http://127\.0\.0\.1:8188"):
        check_service_url("127.0.0.1:8188", online_access=False)


@pytest.mark.parametrize(
    ("url", "kind", "used", "dropped"),
    [
        ("http://gpu-box:8188/prompt", "comfyui", "http://gpu-box:8188", "/prompt"),
        ("http://127.0.0.1:8188/#/", "comfyui", "http://127.0.0.1:8188", "#/"),
        ("http://127.0.0.1:4000/v1/?x=1", "litellm", "http://127.0.0.1:4000", "/v1?x=1"),
        ("http://127.0.0.1:7866/mcp/#tools", "wan2gp", "http://127.0.0.1:7866/mcp/", "#tools"),
    ],
)
def test_an_address_with_a_path_or_fragment_is_reduced_and_says_so(url, kind, used, dropped):
    from shotcaller.backends.urls import server_root

    kept, note = server_root(url, kind)
    assert kept == used
    assert f"'{dropped}' was dropped from {url}" in note and used in note


@pytest.mark.parametrize(
    ("url", "kind"),
    [("http://127.0.0.1:8188", "comfyui"), ("http://127.0.0.1:8188/", "comfyui"), ("http://h:7866/mcp/", "wan2gp")],
)
def test_a_root_address_is_kept_without_a_note(url, kind):
    from shotcaller.backends.urls import server_root

    kept, note = server_root(url, kind)
    assert note == "" and kept.rstrip("/") == url.rstrip("/")


def test_credentials_in_an_address_are_refused():
    from shotcaller.backends.urls import server_root

    with pytest.raises(UnsafeURL, match="user name or password"):
        server_root("http://me:secret@gpu-box:8188", "comfyui")


def test_start_hints_name_the_port_and_address_actually_used():
    from shotcaller.backends.comfyui.errors import START_HINT
    from shotcaller.backends.http import fill_address

    assert "--listen 127.0.0.1 --port 8190" in fill_address(START_HINT, "http://127.0.0.1:8190")
    assert "--listen 0.0.0.0 --port 80" in fill_address(START_HINT, "http://gpu-box")
    assert "{port}" not in fill_address(START_HINT, "http://127.0.0.1:bad")


@pytest.mark.parametrize("host", ["evil.localhost", "gpu-box", "10.0.0.2", "::ffff:192.168.0.1"])
def test_connect_without_online_access_never_looks_a_name_up(host, monkeypatch):
    def no_lookup(*args, **kwargs):
        raise AssertionError(f"looked up {args[0]}")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    with pytest.raises(UnsafeURL, match="not on this machine"):
        connect((host, 80), 1.0, online_access=False)


def test_connect_to_localhost_reaches_only_loopback():
    listener = socket.create_server(("127.0.0.1", 0))
    with listener, connect(("localhost", listener.getsockname()[1]), 1.0, online_access=False) as sock:
        assert sock.getpeername()[0] == "127.0.0.1"


@pytest.mark.parametrize(
    "options",
    [{"max_download_mb": -1}, {"max_answer_mb": "lots"}, {"job_minutes": float("nan")}, {"job_minutes": -5}],
)
def test_limits_that_cannot_work_are_refused(options):
    with pytest.raises(InvalidLimit):
        TransportPolicy.from_options(options, online_access=False)


def test_limits_come_from_the_server_entry():
    policy = TransportPolicy.from_options(
        {"max_download_mb": 10, "job_minutes": 2, "max_answer_mb": 0}, online_access=True
    )
    assert (policy.download_bytes, policy.job_seconds, policy.answer_bytes) == (10 * 2**20, 120.0, 8 * 2**20)
    with pytest.raises(InvalidLimit):
        TransportPolicy(answer_bytes=0)


@pytest.mark.parametrize(
    "fields",
    [{"slots": 0}, {"slots": -2}, {"rate_limit_per_minute": -1}, {"cost_per_shot": -0.5}, {"vram_gb": float("nan")}],
)
def test_server_settings_that_cannot_work_are_refused_where_entered(fields):
    with pytest.raises(ValueError, match="must be"):
        InstanceConfig("comfyui", url="http://127.0.0.1:8188", **fields)
