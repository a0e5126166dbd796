"""MCP over streamable HTTP as Wan2GP 12.60 serves it (FastMCP from mcp 1.10.1, stateless, JSON responses).

The checks of a POST to /mcp/, in order, with the captured answers:

1. `Accept` without both application/json and text/event-stream: 406, JSON-RPC envelope with
   `"id": "server-error"`, code -32600, "Not Acceptable: Client must accept both ...".
2. `Content-Type` not application/json: 400, the plain text "Invalid Content-Type header" with no
   content type at all.
3. Body not JSON: 400, -32700 "Parse error: <json error>". Not a JSON-RPC message (or a batch):
   400, -32602 "Validation error: <pydantic message>".
4. A bad `mcp-protocol-version` header (any message but initialize): 400, -32600 "Bad Request: ...".
5. Notifications and JSON-RPC responses: 202 with an empty body.
6. Requests: 200 with the JSON-RPC response; an unknown method (or bad params) is the error
   -32602 "Invalid request parameters" with `"data": ""`. No session id is ever issued.

`tools/call` results: `{"content": [...], "structuredContent": ..., "isError": false}`; lists and
optional dicts are wrapped as `{"result": ...}` (one text item per list element, none for None);
tool failures are `{"content": [{"type": "text", "text": "Error executing tool X: ..."}], "isError": true}`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Any, Literal

from aiohttp import hdrs, web
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, create_model

from .jobs import ToolError
from .tools import Tools

log = logging.getLogger("devservers.wan2gp")

SUPPORTED_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18")
LATEST_VERSION = "2025-06-18"
SERVER_INFO = {"name": "WanGP", "version": "1.10.1"}  # the mcp package's version, as the real server says
CAPABILITIES = {
    "experimental": {},
    "prompts": {"listChanged": False},
    "resources": {"subscribe": False, "listChanged": False},
    "tools": {"listChanged": False},
}
NOT_ACCEPTABLE_POST = "Not Acceptable: Client must accept both application/json and text/event-stream"
NOT_ACCEPTABLE_GET = "Not Acceptable: Client must accept text/event-stream"
PARAMS_REQUIRED = {"initialize", "tools/call", "resources/read", "prompts/get"}
KNOWN_METHODS = {"initialize", "ping", "tools/list", "tools/call", "prompts/list", "prompts/get",
                 "resources/list", "resources/templates/list", "resources/read"}  # fmt: skip


# --- JSON-RPC message shapes (for the same validation errors as the SDK) ----------------------


class JSONRPCRequest(BaseModel):  # field order as in the SDK (method and params come from Request)
    model_config = ConfigDict(extra="allow")
    method: str
    params: dict[str, Any] | None = None
    jsonrpc: Literal["2.0"]
    id: str | int


class JSONRPCNotification(BaseModel):
    model_config = ConfigDict(extra="allow")
    method: str
    params: dict[str, Any] | None = None
    jsonrpc: Literal["2.0"]


class JSONRPCResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    jsonrpc: Literal["2.0"]
    id: str | int
    result: dict[str, Any]


class ErrorData(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: int
    message: str
    data: Any | None = None


class JSONRPCError(BaseModel):
    model_config = ConfigDict(extra="allow")
    jsonrpc: Literal["2.0"]
    id: str | int
    error: ErrorData


class JSONRPCMessage(RootModel[JSONRPCRequest | JSONRPCNotification | JSONRPCResponse | JSONRPCError]):
    pass


class PlainResponse(web.Response):
    """A response without any Content-Type header (aiohttp adds application/octet-stream otherwise)."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self._headers.popall(hdrs.CONTENT_TYPE, None)


# --- tool arguments ----------------------------------------------------------------------------


def _python_type(schema: dict[str, Any]) -> Any:
    if "anyOf" in schema:
        options = [_python_type(s) for s in schema["anyOf"]]
        union = options[0]
        for option in options[1:]:
            union = union | option
        return union
    kind = schema.get("type")
    if kind == "string":
        return str
    if kind == "integer":
        return int
    if kind == "number":
        return float
    if kind == "boolean":
        return bool
    if kind == "null":
        return type(None)
    if kind == "array":
        return list[_python_type(schema.get("items") or {})]  # type: ignore[misc]
    if kind == "object":
        return dict[str, Any]
    return Any


def argument_models(tools: list[dict[str, Any]]) -> dict[str, type[BaseModel]]:
    """A pydantic model per tool, named like FastMCP's (`<tool>Arguments`), from its inputSchema."""
    models: dict[str, type[BaseModel]] = {}
    for tool in tools:
        schema = tool["inputSchema"]
        required = set(schema.get("required") or [])
        fields: dict[str, Any] = {}
        for name, spec in (schema.get("properties") or {}).items():
            default = ... if name in required else spec.get("default")
            fields[name] = (_python_type(spec), Field(default=default, title=spec.get("title")))
        models[tool["name"]] = create_model(f"{tool['name']}Arguments", **fields)  # type: ignore[call-overload]
    return models


# --- the endpoint --------------------------------------------------------------------------------


class McpEndpoint:
    def __init__(self, tools: Tools, surface: dict[str, Any]) -> None:
        self.tools = tools
        self.surface = surface
        self.tool_list = surface["tools"]
        self.output_wrapped = {
            t["name"]: "result" in ((t.get("outputSchema") or {}).get("properties") or {}) for t in self.tool_list
        }
        self.argument_models = argument_models(self.tool_list)
        self.closing = asyncio.Event()

    async def redirect(self, request: web.Request) -> web.Response:
        """Starlette's mount answers /mcp with a redirect to /mcp/ (any method; POST clients must re-POST)."""
        location = str(request.url.with_path("/mcp/"))
        return web.Response(status=307, headers={"location": location})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            return await self.post(request)
        if request.method == "GET":
            return await self.get(request)
        if request.method == "DELETE":
            return envelope_error(405, -32600, "Method Not Allowed: Session termination not supported")
        return envelope_error(405, -32600, "Method Not Allowed")

    async def post(self, request: web.Request) -> web.Response:
        accept = [part.split(";")[0].strip().lower() for part in request.headers.get("Accept", "").split(",")]
        if "application/json" not in accept or "text/event-stream" not in accept:
            return envelope_error(406, -32600, NOT_ACCEPTABLE_POST)
        if request.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            return PlainResponse(status=400, body=b"Invalid Content-Type header")
        body = await request.read()
        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return envelope_error(400, -32700, f"Parse error: {exc}")
        try:
            message = JSONRPCMessage.model_validate(raw).root
        except ValidationError as exc:
            return envelope_error(400, -32602, f"Validation error: {exc}")
        is_initialize = isinstance(message, JSONRPCRequest) and message.method == "initialize"
        version = request.headers.get("mcp-protocol-version")
        if not is_initialize and version is not None and version not in SUPPORTED_VERSIONS:
            return envelope_error(
                400, -32600,
                f"Bad Request: Unsupported protocol version: {version}. "
                f"Supported versions: {', '.join(SUPPORTED_VERSIONS)}",
            )  # fmt: skip
        if not isinstance(message, JSONRPCRequest):
            return web.Response(status=202, content_type="application/json")
        if message.method == "tools/call":
            self.tools.jobs.log_request()
        answer = await self.dispatch(message)
        return json_response(200, answer)

    async def get(self, request: web.Request) -> web.StreamResponse:
        """The standalone SSE stream: opened, then silent until the client goes away."""
        accept = [part.split(";")[0].strip().lower() for part in request.headers.get("Accept", "").split(",")]
        if "text/event-stream" not in accept:
            return envelope_error(406, -32600, NOT_ACCEPTABLE_GET)
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache, no-transform"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        while not self.closing.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            try:
                await asyncio.wait_for(self.closing.wait(), 0.5)
            except TimeoutError:
                continue
        return response

    async def dispatch(self, message: JSONRPCRequest) -> dict[str, Any]:
        method, params = message.method, message.params
        if method not in KNOWN_METHODS or (method in PARAMS_REQUIRED and not isinstance(params, dict)):
            return rpc_error(message.id, -32602, "Invalid request parameters", "")
        params = params or {}
        if method == "initialize":
            client_info = params.get("clientInfo")
            if not isinstance(params.get("protocolVersion"), str) or not isinstance(client_info, dict):
                return rpc_error(message.id, -32602, "Invalid request parameters", "")
            requested = params["protocolVersion"]
            version = requested if requested in SUPPORTED_VERSIONS else LATEST_VERSION
            return rpc_result(
                message.id, {"protocolVersion": version, "capabilities": CAPABILITIES, "serverInfo": SERVER_INFO}
            )
        if method == "ping":
            return rpc_result(message.id, {})
        if method == "tools/list":
            return rpc_result(message.id, {"tools": self.tool_list})
        if method == "prompts/list":
            return rpc_result(message.id, {"prompts": self.surface["prompts"]})
        if method == "resources/list":
            return rpc_result(message.id, {"resources": self.surface["resources"]})
        if method == "resources/templates/list":
            return rpc_result(message.id, {"resourceTemplates": []})
        if method == "resources/read":
            return self._read_resource(message.id, params)
        if method == "prompts/get":
            return rpc_error(message.id, -32602, "Invalid request parameters", "")
        name, arguments = params.get("name"), params.get("arguments")
        if not isinstance(name, str) or not (arguments is None or isinstance(arguments, dict)):
            return rpc_error(message.id, -32602, "Invalid request parameters", "")
        return rpc_result(message.id, await self.call_tool(name, arguments or {}))

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        model = self.argument_models.get(name)
        method = getattr(self.tools, name, None)
        if model is None or method is None:
            return {"content": [_text(f"Unknown tool: {name}")], "isError": True}
        try:
            values = model.model_validate(arguments).model_dump()
            value = method(**values)
            if inspect.isawaitable(value):
                value = await value
        except (ToolError, ValidationError, ValueError) as exc:
            return {"content": [_text(f"Error executing tool {name}: {exc}")], "isError": True}
        except KeyError as exc:
            return {"content": [_text(f"Error executing tool {name}: {exc}")], "isError": True}
        except Exception as exc:  # what FastMCP does with any exception in a tool
            log.exception("tool %s failed", name)
            return {"content": [_text(f"Error executing tool {name}: {exc}")], "isError": True}
        if self.output_wrapped.get(name):
            if isinstance(value, list):
                content = [_text(json.dumps(item, indent=2)) for item in value]
            else:
                content = [] if value is None else [_text(json.dumps(value, indent=2))]
            return {"content": content, "structuredContent": {"result": value}, "isError": False}
        return {"content": [_text(json.dumps(value, indent=2))], "structuredContent": value, "isError": False}

    def _read_resource(self, request_id: str | int, params: dict[str, Any]) -> dict[str, Any]:
        uri = params.get("uri")
        known = {r["uri"]: r for r in self.surface["resources"]}
        if not isinstance(uri, str):
            return rpc_error(request_id, -32602, "Invalid request parameters", "")
        if uri in self.surface["resource_contents"]:
            return rpc_result(request_id, {"contents": [self.surface["resource_contents"][uri]]})
        if uri in known:
            text = f"# {known[uri]['title']}\n\n(The reference server does not carry WanGP's documentation.)\n"
            return rpc_result(request_id, {"contents": [{"uri": uri, "mimeType": "text/markdown", "text": text}]})
        return rpc_error(request_id, 0, f"Unknown resource: {uri}")


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def rpc_result(request_id: str | int, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def rpc_error(request_id: str | int, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def json_response(status: int, payload: Any) -> web.Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return web.Response(status=status, body=body, content_type="application/json")


def envelope_error(status: int, code: int, message: str) -> web.Response:
    return json_response(status, rpc_error("server-error", code, message))
