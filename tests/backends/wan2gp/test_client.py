"""The MCP client against the reference Wan2GP server and loopback stubs, over real HTTP."""

from __future__ import annotations

import io
import urllib.parse

import pytest
from aiohttp import web
from PIL import Image

from shotcaller.backends.base import (
    BackendBusy,
    BackendUnreachable,
    Cancelled,
    InvalidRequest,
    JobLost,
    MissingResource,
    OutOfMemory,
    ProtocolError,
)
from shotcaller.backends.wan2gp.client import Wan2GPClient, mcp_endpoint
from shotcaller.backends.wan2gp.errors import START_COMMAND, job_error, tool_error

# Answers recorded from the real Wan2GP 12.60 server (protocols/wan2gp-captures).
NOT_ACCEPTABLE = {"jsonrpc": "2.0", "id": "server-error", "error": {"code": -32600, "message": (
    "Not Acceptable: Client must accept both application/json and text/event-stream")}}  # fmt: skip
BAD_VERSION = {"jsonrpc": "2.0", "id": "server-error", "error": {"code": -32600, "message": (
    "Bad Request: Unsupported protocol version: 1999-01-01. Supported versions: 2024-11-05, 2025-03-26, "
    "2025-06-18")}}  # fmt: skip
HUB_ERROR = (
    "An error happened while trying to locate the file on the Hub and we cannot find the requested files in the"
    " local cache. Please check your connection and try again or make sure your Internet connection is on."
)
FAILED_JOB = {"success": False, "cancelled": False, "generated_files": [], "errors": [
    {"message": HUB_ERROR, "task_index": 1, "task_id": 1, "stage": "generation", "cancelled": False}],
    "total_tasks": 1, "successful_tasks": 0, "failed_tasks": 1, "artifacts": [], "gallery_items": []}  # fmt: skip
CANCELLED_JOB = {**FAILED_JOB, "errors": [*FAILED_JOB["errors"], {"message": "Generation was cancelled",
    "task_index": 1, "task_id": 1, "stage": "cancelled", "cancelled": True}]}  # fmt: skip
UNKNOWN_MODEL_JOB = {**FAILED_JOB, "failed_tasks": 0, "errors": [{"message": "'NoneType' object has no attribute "
    "'get'", "task_index": None, "task_id": None, "stage": "runtime", "cancelled": False}]}  # fmt: skip
WANGP_OOM = (
    "The generation of the video has encountered an error: it is likely that you have unsufficient VRAM and you"
    " should therefore reduce the video resolution or its number of frames."
)


def png_bytes(color=(200, 40, 40), size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


# --- handshake and transport ---------------------------------------------------------------------


def test_handshake_against_the_reference_server(idle_reference):
    client = Wan2GPClient(idle_reference.mcp_url)
    info = client.initialize()
    assert (info.name, info.version, info.protocol_version) == ("WanGP", "1.10.1", "2025-06-18")
    assert info.capabilities["tools"] == {"listChanged": False}
    client.ping()
    names = [t["name"] for t in client.list_tools()]
    assert len(names) == 22 and {"wangp_generate", "wangp_get_job", "wangp_cancel_job"} <= set(names)


def test_handshake_headers_and_initialized_notification(stub):
    client = Wan2GPClient(stub.mcp_url)
    client.ping()
    initialize, initialized, ping = stub.requests
    assert initialize["json"]["method"] == "initialize"
    assert initialize["json"]["params"]["protocolVersion"] == "2025-06-18"
    assert initialize["json"]["params"]["clientInfo"]["name"] == "Shotcaller"
    assert initialized["json"] == {"jsonrpc": "2.0", "method": "notifications/initialized"}
    for request in stub.requests:
        assert request["headers"]["Accept"] == "application/json, text/event-stream"
        assert request["headers"]["Content-Type"] == "application/json"
    assert "MCP-Protocol-Version" not in initialize["headers"]
    assert ping["headers"]["MCP-Protocol-Version"] == "2025-06-18"
    client.ping()
    assert len(stub.calls("initialize")) == 1  # once per client


def test_session_id_is_echoed_and_a_lost_session_is_renewed(stub):
    stub.session_id = "sess"
    stub.tools["wangp_get_model_availability"] = lambda args: stub.ok(
        {"model_type": args["model_type"], "available": 1}
    )
    client = Wan2GPClient(stub.mcp_url)
    assert client.get_model_availability("t2v_2_2")["available"] == 1
    assert stub.requests[-1]["headers"]["Mcp-Session-Id"] == "sess-1"
    stub.forget_session()  # the server restarted: 404 for the old session, then a new handshake
    assert client.get_model_availability("t2v_2_2")["available"] == 1
    assert stub.initializations == 2 and stub.requests[-1]["headers"]["Mcp-Session-Id"] == "sess-2"


def test_event_stream_answers_are_read(stub):
    stub.sse = True
    stub.tools["wangp_list_models"] = lambda args: stub.ok([{"model_type": "t2v_2_2"}], wrapped=True)
    client = Wan2GPClient(stub.mcp_url)
    assert client.list_models(model_type="t2v*") == [{"model_type": "t2v_2_2"}]


def test_307_from_mcp_is_followed_and_remembered(idle_reference):
    client = Wan2GPClient(idle_reference.url + "/mcp")
    assert client.endpoint.endswith("/mcp")
    client.ping()
    assert client.endpoint == idle_reference.mcp_url
    assert client.get_model_schema("t2v_2_2")["fps"] == 16


def test_redirect_to_another_server_is_refused(stub):
    stub.routes[("POST", "/mcp/")] = lambda request: web.Response(
        status=307, headers={"Location": "http://198.51.100.7:7866/mcp/"}
    )
    with pytest.raises(ProtocolError, match="redirected Shotcaller to another server"):
        Wan2GPClient(stub.mcp_url).ping()


def test_406_without_the_right_accept_is_a_protocol_error(stub):
    stub.routes[("POST", "/mcp/")] = lambda request: web.json_response(NOT_ACCEPTABLE, status=406)
    with pytest.raises(ProtocolError) as caught:
        Wan2GPClient(stub.mcp_url).ping()
    assert "Client must accept both application/json and text/event-stream" in caught.value.message
    assert "Accept header" in caught.value.hint


def test_unsupported_protocol_version_is_explained(stub):
    stub.routes[("POST", "/mcp/")] = lambda request: web.json_response(BAD_VERSION, status=400)
    with pytest.raises(ProtocolError, match="does not speak Shotcaller's MCP protocol version"):
        Wan2GPClient(stub.mcp_url).ping()


def test_refused_connection_says_how_to_start_wan2gp(refused_url):
    with pytest.raises(BackendUnreachable) as caught:
        Wan2GPClient(refused_url).ping()
    assert "connection refused" in caught.value.message
    # The command names the port of the address used, not Wan2GP's default (as ComfyUI's does).
    port = urllib.parse.urlsplit(refused_url).port
    assert port != 7866
    command = f"python wgp.py --mcp --mcp-transport streamable-http --mcp-host 127.0.0.1 --mcp-port {port}"
    assert f"Start Wan2GP with {command}, or fix the Wan2GP address" in caught.value.hint
    assert START_COMMAND == "python wgp.py --mcp --mcp-transport streamable-http --mcp-host 127.0.0.1 --mcp-port 7866"


def test_wrong_path_is_unreachable_with_a_hint(stub):
    with pytest.raises(BackendUnreachable, match="no MCP endpoint") as caught:
        Wan2GPClient(stub.url + "/nope/").ping()
    assert "/mcp/" in caught.value.hint


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\nnot json!", "not JSON-RPC"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<html></html>", "not JSON-RPC"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]", "answered initialize"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "not HTTP"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nevent: message\ndata: {", "event stream"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
         b'{"jsonrpc":"2.0","id":"x","result":{}}  ', "reply to another request"),
        (b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", "sent no answer"),
    ],
)  # fmt: skip
def test_garbage_is_a_protocol_error(raw_server, payload, match):
    server = raw_server(payload)
    with pytest.raises(ProtocolError, match=match):
        Wan2GPClient(server.url + "/mcp/").ping()


def test_jsonrpc_error_in_a_200_answer(stub):
    client = Wan2GPClient(stub.mcp_url)
    with pytest.raises(ProtocolError, match=r"refused the MCP request resources/subscribe.*-32602"):
        client._request("resources/subscribe", {"uri": "x"})


def test_endpoint_from_what_a_user_types():
    assert mcp_endpoint("http://127.0.0.1:7866") == "http://127.0.0.1:7866/mcp/"
    assert mcp_endpoint("http://127.0.0.1:7866/") == "http://127.0.0.1:7866/mcp/"
    assert mcp_endpoint(" http://gpu-box:7866/mcp/ ") == "http://gpu-box:7866/mcp/"
    assert mcp_endpoint("http://gpu-box/wan/mcp/") == "http://gpu-box/wan/mcp/"
    with pytest.raises(InvalidRequest, match="not an http"):
        Wan2GPClient("ftp://example.com")


# --- tools ----------------------------------------------------------------------------------------


def test_tool_results_are_unwrapped(idle_reference):
    client = Wan2GPClient(idle_reference.mcp_url)
    models = client.list_models(model_type="ti2v*")
    assert [m["model_type"] for m in models] == ["ti2v_2_2", "ti2v_2_2_fastwan"]
    assert client.list_models(offset=100000) == []
    assert client.get_model_schema("no_such_model") is None
    assert client.get_model_schema("ti2v_2_2")["frames_maximum"] == 121
    defaults = client.get_default_settings("t2v_2_2")
    assert (defaults["resolution"], defaults["video_length"], defaults["guidance_phases"]) == ("832x480", 81, 2)
    assert client.get_model_availability("t2v_1.3B")["available"] is True  # a normal install has it
    assert client.get_model_availability("alpha2")["available"] is False
    assert len(list(client.iter_models(page_size=10))) > 10  # pages past the server's cap of 10


def test_text_only_results_are_parsed(stub):
    stub.tools["wangp_list_gallery"] = lambda args: {
        "content": [
            {"type": "text", "text": '{"gallery_id": "a:1"}'},
            {"type": "text", "text": '{"gallery_id": "b:2"}'},
        ]
    }
    stub.tools["wangp_get_model_schema"] = lambda args: {"content": []}
    stub.tools["wangp_get_default_settings"] = lambda args: {"content": [{"type": "text", "text": "{nope"}]}
    client = Wan2GPClient(stub.mcp_url)
    assert [g["gallery_id"] for g in client.list_gallery()] == ["a:1", "b:2"]
    assert client.get_model_schema("x") is None
    with pytest.raises(ProtocolError, match="not JSON"):
        client.get_default_settings("x")


@pytest.mark.parametrize(
    ("tool", "text", "error", "match"),
    [
        ("wangp_generate", "Error executing tool wangp_generate: WanGP session already has a generation in progress",
         BackendBusy, "one generation at a time"),
        ("wangp_get_job", "Error executing tool wangp_get_job: 'Unknown WanGP job_id: 0000'",
         JobLost, "Unknown WanGP job_id: 0000"),
        ("wangp_get_default_settings",
         "Error executing tool wangp_get_default_settings: Unknown model_type: no_such_model",
         MissingResource, "no_such_model"),
        ("wangp_create_gallery_upload", "Error executing tool wangp_create_gallery_upload: filename must have a "
         "supported image, video, or audio extension", InvalidRequest, "file type"),
        ("wangp_generate", "Unknown tool: wangp_generate", MissingResource, "has no tool 'wangp_generate'"),
        ("wangp_list_models", "Error executing tool wangp_list_models: 1 validation error for "
         "wangp_list_modelsArguments\nlimit\n  Input should be a valid integer", ProtocolError, "arguments"),
        ("wangp_generate", "Error executing tool wangp_generate: CUDA out of memory. Tried to allocate 2.00 GiB",
         OutOfMemory, "ran out of memory"),
        ("wangp_generate", "Error executing tool wangp_generate: WanGP session job timed out", BackendBusy,
         "timed out"),
        ("wangp_toolbox", "Error executing tool wangp_toolbox: something else", ProtocolError, "something else"),
    ],
)  # fmt: skip
def test_tool_error_texts_map_to_typed_errors(tool, text, error, match):
    found = tool_error(tool, text, "http://127.0.0.1:7866")
    assert type(found) is error
    assert match in found.message
    assert found.hint


@pytest.mark.parametrize(
    ("result", "error", "match"),
    [
        (FAILED_JOB, MissingResource, "cannot download model weights"),
        (CANCELLED_JOB, Cancelled, "cancelled on Wan2GP"),
        ({**FAILED_JOB, "errors": [{"message": WANGP_OOM, "stage": "generation"}]}, OutOfMemory, "unsufficient VRAM"),
        ({**FAILED_JOB, "errors": [{"message": "bad resolution", "stage": "validation"}]}, InvalidRequest,
         "bad resolution"),
        (UNKNOWN_MODEL_JOB, ProtocolError, "failed (runtime)"),
        ({**FAILED_JOB, "errors": []}, ProtocolError, "without saying why"),
    ],
)  # fmt: skip
def test_job_results_map_to_typed_errors(result, error, match):
    found = job_error(result, "http://127.0.0.1:7866", "61bd2b9f")
    assert type(found) is error
    assert match in found.message
    assert found.hint


def test_reference_tool_errors_are_typed(idle_reference):
    client = Wan2GPClient(idle_reference.mcp_url)
    with pytest.raises(MissingResource, match="no_such_model"):
        client.get_default_settings("no_such_model")
    with pytest.raises(ProtocolError, match="probably restarted"):
        client.get_job("0000")
    with pytest.raises(ProtocolError, match="forgotten"):
        client.cancel_job("0000")
    with pytest.raises(ProtocolError, match="arguments for wangp_list_models"):
        client.call_tool("wangp_list_models", {"limit": "ten"})
    with pytest.raises(MissingResource, match="has no tool"):
        client.call_tool("wangp_no_such_tool")


# --- gallery transfers --------------------------------------------------------------------------


def test_upload_and_download_through_one_time_links(idle_reference, tmp_path):
    client = Wan2GPClient(idle_reference.mcp_url)
    source = tmp_path / "start frame.png"
    source.write_bytes(png_bytes())
    record = client.upload(str(source))
    assert record["status"] == "uploaded" and record["media_type"] == "image"
    assert record["gallery_id"].startswith("visual:") and record["path"].endswith("/start frame.png")
    assert record["size"] == source.stat().st_size
    downloaded = client.download(record["gallery_id"], str(tmp_path / "back.png"))
    assert (tmp_path / "back.png").read_bytes() == source.read_bytes()
    assert (downloaded.server_filename, downloaded.media_type, downloaded.size) == (
        "start frame.png", "image", source.stat().st_size)  # fmt: skip
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial-")]


def test_upload_errors_are_typed(idle_reference, tmp_path):
    client = Wan2GPClient(idle_reference.mcp_url)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not a png")
    with pytest.raises(InvalidRequest, match="cannot identify image file"):
        client.upload(str(garbage))
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(InvalidRequest, match="does not accept this file type"):
        client.upload(str(notes))
    with pytest.raises(InvalidRequest, match="cannot read the init image"):
        client.upload(str(tmp_path / "missing.png"))


def test_expired_links_are_renewed_once(stub, tmp_path):
    tickets = iter(range(10))
    stub.tools["wangp_create_gallery_upload"] = lambda args: stub.ok(
        {"upload_url": f"/wangp_api/gallery/upload/t{next(tickets)}", "method": "PUT", "filename": args["filename"],
         "expires_in_seconds": 600, "max_bytes": 8589934592})  # fmt: skip
    stub.tools["wangp_create_gallery_download"] = lambda args: stub.ok(
        {"gallery_id": args["gallery_id"], "download_url": f"/wangp_api/gallery/download/t{next(tickets)}",
         "filename": "clip.mp4", "media_type": "video", "size": 5, "expires_in_seconds": 600})  # fmt: skip
    gone = {"error": "Upload expired or not found."}
    stub.routes[("PUT", "/wangp_api/gallery/upload/t0")] = lambda r: web.json_response(gone, status=404)
    stub.routes[("PUT", "/wangp_api/gallery/upload/t1")] = lambda r: web.json_response(
        {"status": "uploaded", "size": 3, "gallery_id": "visual:0123456789ab", "media_type": "image"}
    )
    stub.routes[("GET", "/wangp_api/gallery/download/t2")] = lambda r: web.json_response(
        {"error": "Download expired or not found."}, status=404
    )
    stub.routes[("GET", "/wangp_api/gallery/download/t3")] = lambda r: web.Response(body=b"video")
    image = tmp_path / "a.png"
    image.write_bytes(b"png")
    assert Wan2GPClient(stub.mcp_url).upload(str(image))["gallery_id"] == "visual:0123456789ab"
    Wan2GPClient(stub.mcp_url).download("visual:0123456789ab", str(tmp_path / "out.mp4"))
    assert (tmp_path / "out.mp4").read_bytes() == b"video"
    stub.routes[("GET", "/wangp_api/gallery/download/t4")] = lambda r: web.json_response(
        {"error": "Download expired or not found."}, status=404
    )
    stub.routes[("GET", "/wangp_api/gallery/download/t5")] = lambda r: web.json_response(
        {"error": "Download expired or not found."}, status=404
    )
    with pytest.raises(ProtocolError, match="Download expired or not found"):
        Wan2GPClient(stub.mcp_url).download("visual:0123456789ab", str(tmp_path / "again.mp4"))
    assert not (tmp_path / "again.mp4").exists()


def test_transfer_urls_stay_on_the_server(stub, tmp_path):
    stub.tools["wangp_create_gallery_download"] = lambda args: stub.ok({"download_url": "http://198.51.100.7/steal"})
    with pytest.raises(ProtocolError, match="another server"):
        Wan2GPClient(stub.mcp_url).download("visual:0123456789ab", str(tmp_path / "x.mp4"))


def test_a_download_cut_short_leaves_nothing(stub, tmp_path):
    async def cut_short(request):
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b"only-this")
        request.transport.close()
        return response

    stub.tools["wangp_create_gallery_download"] = lambda args: stub.ok({"download_url": "/dl/1"})
    stub.routes[("GET", "/dl/1")] = cut_short
    with pytest.raises(ProtocolError, match=r"stopped sending|stopped answering"):
        Wan2GPClient(stub.mcp_url).download("visual:0123456789ab", str(tmp_path / "x.mp4"))
    assert list(tmp_path.iterdir()) == []


def test_generate_answers_are_validated(stub):
    stub.tools["wangp_generate"] = lambda args: stub.ok({"done": False})
    stub.tools["wangp_get_job"] = lambda args: stub.ok({"job_id": "j", "done": "maybe"})
    stub.tools["wangp_cancel_job"] = lambda args: stub.ok({"job_id": "j", "done": True, "result": [1, 2]})
    client = Wan2GPClient(stub.mcp_url)
    with pytest.raises(ProtocolError, match="without a job"):
        client.generate({"model_type": "t2v_2_2", "prompt": "x"})
    with pytest.raises(ProtocolError, match="neither done nor running"):
        client.get_job("j")
    with pytest.raises(ProtocolError, match="malformed result"):
        client.cancel_job("j")
    generated = stub.calls("tools/call")[0]["params"]["arguments"]
    assert generated == {"source": {"model_type": "t2v_2_2", "prompt": "x"}, "wait": False}


def test_busy_reference_server_answers_backend_busy(idle_reference):
    client = Wan2GPClient(idle_reference.mcp_url)
    source = {"model_type": "t2v_1.3B", "prompt": "long", "resolution": "448x256", "video_length": 5,
              "num_inference_steps": 400}  # fmt: skip
    first = client.generate(source)
    try:
        with pytest.raises(BackendBusy, match="one generation at a time") as caught:
            client.generate(source)
        assert "another backend" in caught.value.hint
    finally:
        client.cancel_job(first.job_id)
    snapshot = client.get_job(first.job_id)
    assert snapshot.cancel_requested
