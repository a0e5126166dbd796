"""The reference Wan2GP server's streamable-HTTP transport, against the captured exchanges (00-39)."""

from __future__ import annotations

import http.client
import urllib.parse

import pytest

from devservers.wan2gp.__main__ import build_parser
from devservers.wan2gp.launch import start_server
from devservers.wan2gp.testing import McpClient

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
ACCEPT_BOTH = "application/json, text/event-stream"
NOT_ACCEPTABLE = (
    b'{"jsonrpc":"2.0","id":"server-error","error":{"code":-32600,"message":"Not Acceptable: Client must accept'
    b' both application/json and text/event-stream"}}'
)
INITIALIZE_RESULT = {
    "capabilities": {"experimental": {}, "prompts": {"listChanged": False},
                     "resources": {"subscribe": False, "listChanged": False}, "tools": {"listChanged": False}},
    "serverInfo": {"name": "WanGP", "version": "1.10.1"},
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    handle = start_server(tmp_path_factory.mktemp("wan2gp-http"))
    yield handle
    handle.stop()


@pytest.fixture
def client(server):
    return McpClient(server.url)


def initialize(version):
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "capture", "version": "0.1"}}
    return {"jsonrpc": "2.0", "id": 101, "method": "initialize", "params": params}


@pytest.mark.parametrize(("asked", "answered"), [("2025-06-18", "2025-06-18"), ("2025-03-26", "2025-03-26"),
                                                 ("1999-01-01", "2025-06-18")])  # fmt: skip
def test_initialize(client, asked, answered):
    reply = client.post(initialize(asked))
    assert reply.status == 200 and reply.header("content-type") == "application/json"
    assert reply.header("server") == "uvicorn" and reply.header("mcp-session-id") is None
    assert reply.json == {"jsonrpc": "2.0", "id": 101, "result": {"protocolVersion": answered, **INITIALIZE_RESULT}}
    assert reply.body.startswith(b'{"jsonrpc":"2.0","id":101,"result":{')  # compact, like pydantic's JSON


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}},
        {"jsonrpc": "2.0", "id": 7, "result": {}},  # a JSON-RPC response sent to the server
    ],
)
def test_notifications_and_responses_are_accepted_empty(client, message):
    reply = client.post(message)
    assert (reply.status, reply.body, reply.header("content-type")) == (202, b"", "application/json")
    assert reply.header("content-length") == "0"


def test_ping_and_session_headers(client):
    assert client.post(PING).body == b'{"jsonrpc":"2.0","id":1,"result":{}}'
    bogus = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH, "mcp-session-id": "deadbeef"}
    assert client.post(PING, headers=bogus).status == 200  # ignored: the server is stateless
    good = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH, "mcp-protocol-version": "2025-06-18"}
    assert client.post(PING, headers=good).status == 200
    bad = {**good, "mcp-protocol-version": "1999-01-01"}
    reply = client.post(PING, headers=bad)
    assert reply.status == 400
    assert reply.json["error"] == {"code": -32600, "message": "Bad Request: Unsupported protocol version: 1999-01-01."
                                   " Supported versions: 2024-11-05, 2025-03-26, 2025-06-18"}  # fmt: skip


def test_post_to_mcp_without_slash_redirects(client, server):
    reply = client.post(PING, path="/mcp")
    assert (reply.status, reply.body) == (307, b"")
    assert reply.header("location") == server.url + "/mcp/"


@pytest.mark.parametrize("accept", [None, "application/json", "text/event-stream", "*/*"])
def test_406_without_both_accept_types(client, accept):
    headers = {"Content-Type": "application/json"} | ({"Accept": accept} if accept else {})
    reply = client.post(PING, headers=headers)
    assert (reply.status, reply.body) == (406, NOT_ACCEPTABLE)
    assert reply.header("content-type") == "application/json"


@pytest.mark.parametrize("content_type", ["text/plain", None])
def test_wrong_content_type_is_plain_text(client, content_type):
    headers = {"Accept": ACCEPT_BOTH} | ({"Content-Type": content_type} if content_type else {})
    reply = client.post(b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}', headers=headers)
    assert (reply.status, reply.body) == (400, b"Invalid Content-Type header")
    assert reply.header("content-type") is None


def test_malformed_and_non_jsonrpc_bodies(client):
    reply = client.post(b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert reply.status == 400
    assert reply.body == (b'{"jsonrpc":"2.0","id":"server-error","error":{"code":-32700,'
                          b'"message":"Parse error: Expecting value: line 1 column 39 (char 38)"}}')  # fmt: skip
    reply = client.post({"hello": "world"})
    assert reply.status == 400 and reply.json["error"]["code"] == -32602
    message = reply.json["error"]["message"]
    assert message.startswith("Validation error: 11 validation errors for JSONRPCMessage\nJSONRPCRequest.method\n")
    reply = client.post([PING, {**PING, "id": 2}])
    assert reply.status == 400
    assert reply.json["error"]["message"].startswith("Validation error: 4 validation errors for JSONRPCMessage")


def test_unknown_method_is_invalid_params(client):
    reply = client.post({"jsonrpc": "2.0", "id": 135, "method": "no/such/method"})
    assert reply.status == 200
    assert (
        reply.body
        == b'{"jsonrpc":"2.0","id":135,"error":{"code":-32602,"message":"Invalid request parameters","data":""}}'
    )


def test_listing_methods(client):
    assert client.rpc("prompts/list").json["result"]["prompts"][0]["name"] == "wangp_agent"
    resources = client.rpc("resources/list").json["result"]["resources"]
    assert len(resources) == 21 and resources[0]["uri"] == "wangp://docs/amd-installation"
    assert client.rpc("resources/templates/list").json["result"] == {"resourceTemplates": []}
    flags = client.rpc("resources/read", {"uri": "wangp://docs/settings/prompt-flags"}).json["result"]["contents"]
    assert flags[0]["text"].startswith("### `image_prompt_type`")


def test_get_opens_a_silent_event_stream(server):
    parts = urllib.parse.urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request("GET", "/mcp/", headers={"Accept": "text/event-stream"})
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("content-type") == "text/event-stream"
        assert response.getheader("cache-control") == "no-cache, no-transform"
        assert response.getheader("transfer-encoding") == "chunked"
    finally:
        connection.close()


def test_get_delete_and_unknown_paths(client):
    reply = client.request("GET", "/mcp/", headers={"Accept": "application/json"})
    assert reply.status == 406
    assert reply.json["error"]["message"] == "Not Acceptable: Client must accept text/event-stream"
    reply = client.request("DELETE", "/mcp/", headers={"Accept": ACCEPT_BOTH})
    assert reply.status == 405
    assert reply.json["error"] == {"code": -32600, "message": "Method Not Allowed: Session termination not supported"}
    reply = client.post(PING, path="/nope")
    assert (reply.status, reply.body, reply.header("content-type")) == (404, b"Not Found", "text/plain; charset=utf-8")


def test_cli_flags():
    args = build_parser().parse_args(["--port", "0", "--output-dir", "/tmp/x", "--step-seconds", "0.2",
                                      "--fail-next", "oom", "--fail-next", "error"])  # fmt: skip
    assert (args.port, args.output_dir, args.step_seconds, args.fail_next) == (0, "/tmp/x", 0.2, ["oom", "error"])
    assert build_parser().parse_args([]).port == 7866
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--fail-next", "segfault"])
