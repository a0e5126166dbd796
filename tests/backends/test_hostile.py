"""Every attack of tests/hostile_servers.py against each client: refused or bounded, with a message
that names the cause; no credential reaches another origin; nothing is left on disk."""

from __future__ import annotations

import itertools
import os
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hostile_servers import ATTACKS, TEST_POLICY, Attack, HostileServer, attacks, mcp_routes

from shotcaller.backends import answer, base, deadline, exchange
from shotcaller.backends.base import ProtocolError
from shotcaller.backends.comfyui.client import ComfyUIClient
from shotcaller.backends.credentials import NO_CREDENTIALS, Credentials
from shotcaller.backends.litellm.client import LiteLLMClient
from shotcaller.backends.media_check import verifier
from shotcaller.backends.policy import TransportPolicy
from shotcaller.backends.wan2gp.client import Wan2GPClient
from shotcaller.shots import MediaKind

KEY = "sk-hostile-test-key-0123456789"
GATEWAY = ("X-Gateway-Secret", "gw-hostile-test-0123456789")
# A ComfyUI or Wan2GP server's credentials: sent to the hostile server itself, never to the other origin.
SERVER_CREDENTIALS = Credentials(bearer_token=KEY, headers=(GATEWAY,))


@pytest.fixture
def servers() -> Iterator[tuple[HostileServer, HostileServer]]:
    hostile, other = HostileServer(), HostileServer()
    hostile.other_url = other.url
    other.on("GET", "/", (404, "text/plain", b"nothing here"))
    try:
        yield hostile, other
    finally:
        hostile.close()
        other.close()


def policy_for(attack: Attack, credentials: Credentials = NO_CREDENTIALS) -> TransportPolicy:
    return TransportPolicy(**{**TEST_POLICY, **attack.policy}, credentials=credentials)


ERROR_MODULES = (exchange, answer, deadline, base)
ERRORS = {
    name: next(getattr(module, name) for module in ERROR_MODULES if hasattr(module, name))
    for name in {a.expect[0] for a in ATTACKS}
}


def check(attack: Attack, call: Callable[[], Any], folder: Any, other: HostileServer) -> None:
    name, words = attack.expect
    with pytest.raises(ERRORS[name], match=re.escape(words) if words else None) as caught:
        call()
    assert len(str(caught.value)) < 1200, "a message, not a dump"
    assert KEY not in str(caught.value) and GATEWAY[1] not in str(caught.value)
    assert not [name for name in os.listdir(folder) if not name.startswith("conftest")], "nothing left on disk"
    for headers in other.headers_seen():  # another origin never sees credentials or custom headers
        assert not {"authorization", "mcp-session-id", "mcp-protocol-version", "content-type"} & set(headers)
        assert GATEWAY[0].lower() not in headers and KEY not in str(headers) and GATEWAY[1] not in str(headers)


def sent_credentials(server: HostileServer) -> None:
    """The server's own origin did get them, on every request (so the check above is not vacuous)."""
    assert server.headers_seen()
    for headers in server.headers_seen():
        assert headers.get("authorization") == f"Bearer {KEY}" and headers.get(GATEWAY[0].lower()) == GATEWAY[1]


VIDEO = verifier(MediaKind.VIDEO, source="the test server", what="the video")


# --- ComfyUI -------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", attacks("answer", "download"))
def test_comfyui_client(attack, servers, tmp_path):
    hostile, other = servers
    client = ComfyUIClient(hostile.url, 1.0, policy=policy_for(attack, SERVER_CREDENTIALS))
    if attack.slot == "answer":
        hostile.on("GET", "/history/", attack)
        call: Callable[[], Any] = lambda: client.history("p1")  # noqa: E731
    else:
        hostile.on("GET", "/view", attack)
        call = lambda: client.download({"filename": "take.mp4"}, str(tmp_path / "take.mp4"), verify=VIDEO)  # noqa: E731
    check(attack, call, tmp_path, other)
    sent_credentials(hostile)


# --- Wan2GP --------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", attacks("answer", "download", "line"))
def test_wan2gp_client(attack, servers, tmp_path):
    hostile, other = servers
    tools = {"wangp_create_gallery_download": {"download_url": "/dl/g1", "filename": "x.mp4"}}
    attack_tools = {"wangp_list_models": attack} if attack.slot in ("answer", "line") else {}
    mcp_routes(hostile, tools, attack_tools=attack_tools)
    client = Wan2GPClient(hostile.url + "/mcp/", 1.0, policy=policy_for(attack, SERVER_CREDENTIALS))
    client.initialize()
    if attack.slot == "download":
        hostile.on("GET", "/dl/", attack)
        call: Callable[[], Any] = lambda: client.download("g1", str(tmp_path / "take.mp4"), verify=VIDEO)  # noqa: E731
    else:
        call = client.list_models
    check(attack, call, tmp_path, other)
    sent_credentials(hostile)


def test_wan2gp_download_link_to_another_server_is_refused(servers, tmp_path):
    hostile, other = servers
    mcp_routes(hostile, {"wangp_create_gallery_download": {"download_url": other.url + "/dl/g1"}})
    client = Wan2GPClient(hostile.url + "/mcp/", 1.0, policy=TransportPolicy(**TEST_POLICY))
    with pytest.raises(Exception, match="another server"):
        client.download("g1", str(tmp_path / "take.mp4"))
    assert other.requests == []


# --- LiteLLM -------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", attacks("answer", "download", "line"))
def test_litellm_client(attack, servers, tmp_path):
    hostile, other = servers
    client = LiteLLMClient(hostile.url, KEY, timeout=1.0, policy=policy_for(attack))
    if attack.slot == "answer":
        hostile.on("GET", "/v1/models", attack)
        call: Callable[[], Any] = client.models
    elif attack.slot == "download":
        hostile.on("GET", "/v1/videos/v1/content", attack)
        call = lambda: client.download_video("v1", str(tmp_path / "take.mp4"), verify=VIDEO)  # noqa: E731
    else:
        hostile.on("POST", "/v1/chat/completions", attack)
        call = lambda: client.chat_stream("m", [{"role": "user", "content": "hi"}])  # noqa: E731
    check(attack, call, tmp_path, other)
    assert all(h.get("authorization") == f"Bearer {KEY}" for h in hostile.headers_seen()), "the key went to the proxy"


def image_answer(**item: Any) -> tuple[int, str, bytes]:
    import json

    return (200, "application/json", json.dumps({"data": [item]}).encode())


@pytest.mark.parametrize(
    ("where", "online", "expected"),
    [
        ("http://10.20.30.40/img.png", False, "not on this machine"),
        ("http://evil.localhost:{port}/img.png", False, "not on this machine"),
        ("ftp://127.0.0.1/img.png", False, "not an http"),
        ("{other}/img.png", True, "not an image"),  # another origin may serve it, but gets no key
    ],
    ids=["private-address", "evil-localhost", "ftp", "other-origin-no-key"],
)
def test_litellm_handed_back_image_url(where, online, expected, servers, tmp_path, monkeypatch):
    hostile, other = servers
    other.on("GET", "/img.png", (200, "image/png", b"<html>not an image</html>"))
    url = where.replace("{other}", other.url).replace("{port}", hostile.url.rsplit(":", 1)[1])
    hostile.on("POST", "/v1/images/generations", image_answer(url=url))
    looked_up: list[str] = []
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: looked_up.append(host) or real(host, *a, **k))
    policy = TransportPolicy(**{**TEST_POLICY, "online_access": online})
    client = LiteLLMClient(hostile.url, KEY, timeout=1.0, policy=policy)
    image = client.generate_images("m", "a fox")[0]
    check_image = verifier(MediaKind.IMAGE, source="LiteLLM", what="the image")
    with pytest.raises(Exception, match=re.escape(expected)):
        client.save_image(image, str(tmp_path / "take.png"), verify=check_image)
    assert "evil.localhost" not in looked_up, "a name that is not this machine is never looked up"
    assert not list(tmp_path.iterdir())
    assert all("authorization" not in h for h in other.headers_seen())


@pytest.mark.parametrize(
    ("quads", "words"), [(540 * 1024, "inline image larger than the limit of 2 MiB"), (1024 * 1024, "larger than")]
)
def test_litellm_base64_payload_past_the_limit(quads, words, servers, tmp_path):
    hostile, _ = servers
    hostile.on("POST", "/v1/images/generations", image_answer(b64_json="QUFB" * quads))
    client = LiteLLMClient(hostile.url, KEY, timeout=2.0, policy=TransportPolicy(**TEST_POLICY))
    with pytest.raises(answer.TooLarge, match=words) as caught:
        client.generate_images("m", "a fox")
    assert "Max answer" in str(caught.value)


# --- LiteLLM's backend: the job deadline, numbers, errors on the way out ---------------------------

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


def video_server(hostile: HostileServer, statuses: Iterator[bytes], content: bytes = MP4) -> None:
    """Just enough of OpenAI's video jobs: create, status (from `statuses`), content, delete."""
    hostile.on("POST", "/v1/videos", (200, "application/json", b'{"id": "v1", "status": "queued"}'))
    hostile.on("GET", "/v1/videos/v1", lambda body: (200, "application/json", next(statuses)))
    hostile.on("GET", "/v1/videos/v1/content", (200, "video/mp4", content))
    hostile.on("DELETE", "/v1/videos/v1", (200, "application/json", b'{"deleted": true}'))


def video_run(hostile: HostileServer, tmp_path: Any, report: Callable[[Any], None] = lambda p: None, **policy: Any):
    from shotcaller.backends.base import GenerationRequest
    from shotcaller.backends.litellm.backend import LiteLLMBackend
    from shotcaller.shots import make_spec

    backend = LiteLLMBackend(
        "proxy", hostile.url, KEY, [{"name": "v", "media": "video"}], allow_cloud=True, poll_interval=0.02,
        policy=TransportPolicy(**policy),
    )  # fmt: skip
    spec = make_spec(shot_id="shot-0001abcd", label="Harbour", prompt="waves", media=MediaKind.VIDEO)
    request = GenerationRequest(spec, backend.offers()[0], str(tmp_path / "takes"), "harbour_take1")
    import threading

    return backend.run(request, report, threading.Event())


def deleted(hostile: HostileServer) -> int:
    return sum(1 for method, path, _ in hostile.requests if method == "DELETE")


def test_litellm_video_past_its_job_deadline_is_deleted_on_the_provider(servers, tmp_path):
    from shotcaller.backends.server_job import JobTimedOut

    hostile, _ = servers
    video_server(hostile, itertools.repeat(b'{"id": "v1", "status": "in_progress", "progress": 10}'))
    with pytest.raises(JobTimedOut, match="job deadline; it was cancelled on the server"):
        video_run(hostile, tmp_path, job_seconds=0.4)
    assert deleted(hostile) == 1
    assert not (tmp_path / "takes").exists() or not list((tmp_path / "takes").iterdir())


def test_litellm_video_progress_of_1e999_is_no_number(servers, tmp_path):
    hostile, _ = servers
    statuses = [b'{"id": "v1", "status": "in_progress", "progress": 1e999}', b'{"id": "v1", "status": "completed"}']
    video_server(hostile, iter(statuses))
    seen: list[Any] = []
    result = video_run(hostile, tmp_path, report=seen.append)
    assert result.files and all(0.0 <= p.fraction <= 1.0 and "inf" not in p.message for p in seen)


def test_litellm_unexpected_error_while_waiting_is_typed_and_deletes_the_video(servers, tmp_path):
    hostile, _ = servers
    video_server(hostile, itertools.repeat(b'{"id": "v1", "status": "in_progress", "progress": 10}'))

    def explode(progress: Any) -> None:
        if "in progress" in progress.message:
            raise RuntimeError("a bug in a progress handler")

    with pytest.raises(ProtocolError, match="could not use"):
        video_run(hostile, tmp_path, report=explode)
    assert deleted(hostile) == 1


def test_litellm_html_page_for_the_video_is_not_kept(servers, tmp_path):
    from hostile_servers import HTML_PAGE

    hostile, _ = servers
    video_server(hostile, iter([b'{"id": "v1", "status": "completed"}']), content=HTML_PAGE)
    with pytest.raises(ProtocolError, match="not a video: it begins with '<!DOCTYPE html>"):
        video_run(hostile, tmp_path)
    assert not list((tmp_path / "takes").iterdir())


def test_comfyui_event_stream_follows_no_redirect(servers):
    from shotcaller.backends.base import BackendUnreachable

    hostile, other = servers
    hostile.on("GET", "/ws", Attack("ws-redirect", "credentials", "answer", "redirect", "{other}/ws"))
    client = ComfyUIClient(hostile.url, 1.0, policy=TransportPolicy(**TEST_POLICY))
    with pytest.raises(BackendUnreachable, match="event stream"):
        client.events("c1")
    assert other.requests == []
