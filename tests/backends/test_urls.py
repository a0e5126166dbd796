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
