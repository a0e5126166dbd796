"""Small blocking HTTP helpers for tests that talk to the reference Wan2GP server at the wire level.

    from devservers.wan2gp.testing import McpClient
    client = McpClient(server.url)
    reply = client.rpc("tools/list")                          # Reply(status, body, headers)
    envelope = client.tool("wangp_list_models", limit=3)       # the tools/call `result` object
    value = client.value("wangp_get_default_settings", model_type="t2v_2_2")   # structuredContent

Uses only the standard library. Redirects are not followed (a 307 is returned as it is).
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from ..common.testing import Reply, fetch

ACCEPT = "application/json, text/event-stream"


class McpClient:
    """`credentials` (headers) go with every request: for a server started with an AccessRule."""

    def __init__(self, url: str, credentials: dict[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.credentials = dict(credentials or {})
        self._ids = itertools.count(1)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:  # fmt: skip
        sent = {**self.credentials, **(headers or {})}
        return fetch(self.url + path, method, body, sent, follow_redirects=False)

    def post(self, message: Any, *, headers: dict[str, str] | None = None, path: str = "/mcp/") -> Reply:
        body = message if isinstance(message, bytes) else json.dumps(message).encode()
        sent = {"Content-Type": "application/json", "Accept": ACCEPT} if headers is None else headers
        return self.request("POST", path, body, sent)

    def rpc(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Reply:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = params
        return self.post(message, **kwargs)

    def tool(self, name: str, **arguments: Any) -> dict[str, Any]:
        reply = self.rpc("tools/call", {"name": name, "arguments": arguments})
        assert reply.status == 200, (reply.status, reply.body[:300])
        return reply.json["result"]

    def value(self, name: str, **arguments: Any) -> Any:
        """structuredContent of a successful call (unwrapped from {"result": ...} when wrapped)."""
        result = self.tool(name, **arguments)
        assert not result["isError"], result["content"]
        value = result["structuredContent"]
        return value["result"] if isinstance(value, dict) and set(value) == {"result"} else value

    def error_text(self, name: str, **arguments: Any) -> str:
        result = self.tool(name, **arguments)
        assert result["isError"] and "structuredContent" not in result, result
        return result["content"][0]["text"]

    def wait_job(self, job_id: str, timeout: float = 30.0, **arguments: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.value("wangp_get_job", job_id=job_id, **arguments)
            if snapshot["done"]:
                return snapshot
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still running after {timeout}s")
            time.sleep(0.02)
