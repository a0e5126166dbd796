import pytest

from shotcaller.backends.urls import UnsafeURL, check_service_url, is_loopback_host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "localhost", "[::1]", "::1"])
def test_loopback_hosts(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["10.0.0.2", "gpu-box", "192.168.1.4", "example.com"])
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
