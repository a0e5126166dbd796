"""Low-level ComfyUI client: one method per HTTP endpoint, and a websocket event stream.

Stdlib urllib only (it ships with Blender) plus websocket-client for events.
Every failure leaves as one of the typed errors of backends/base.py, never as a
raw urllib or socket exception, so the scheduler can decide from the type alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import websocket

from ..answer import Answer
from ..base import BackendBusy, BackendError, BackendUnreachable, InvalidRequest, ProtocolError
from ..credentials import with_server_credentials
from ..deadline import WATCHDOG, Deadline
from ..files import Verify, sanitize_filename, write_atomically
from ..http import (
    ErrorAnswer,
    fill_address,
    json_object,
    json_request,
    multipart,
    read_all,
    read_init_image,
    send,
    snippet,
    stream,
)
from ..policy import DEFAULT_POLICY, TransportPolicy
from ..urls import UnsafeURL, connect, is_loopback_host
from .errors import COMFYUI, START_HINT, is_comfy_rejection, rejection_error

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
OBJECT_INFO_FACTOR = 8  # /object_info may be this many times the answer limit


class ComfyUIClient:
    """Talks to one ComfyUI server. Holds no connection state, so one instance serves many threads."""

    def __init__(self, base_url: str, timeout: float = 30.0, *, policy: TransportPolicy = DEFAULT_POLICY) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.policy = with_server_credentials(policy, self.base_url, f"ComfyUI at {self.base_url}")

    # --- endpoints -------------------------------------------------------------------------

    def system_stats(self) -> dict[str, Any]:
        return self._json_object("GET", "/system_stats")

    def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        path = "/object_info" if node_class is None else f"/object_info/{urllib.parse.quote(node_class)}"
        # Every node of every custom node pack: real servers send several MiB, so it may take more.
        return self._json_object("GET", path, limit=OBJECT_INFO_FACTOR * self.policy.answer_bytes)

    def queue(self) -> dict[str, Any]:
        return self._json_object("GET", "/queue")

    def submit(
        self,
        prompt: Mapping[str, Any],
        client_id: str,
        prompt_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
    ) -> str:
        """Queue a prompt; return the prompt_id the server uses (old servers ignore ours)."""
        body: dict[str, Any] = {"prompt": prompt, "client_id": client_id}
        if prompt_id:
            body["prompt_id"] = prompt_id
        if extra_data:
            body["extra_data"] = dict(extra_data)
        answer = self._json_object("POST", "/prompt", body=body, rejected=rejection_error)
        server_id = answer.get("prompt_id")
        if not isinstance(server_id, str) or not server_id:
            raise ProtocolError(
                f"ComfyUI at {self.base_url} accepted the workflow but sent no prompt_id: {snippet(str(answer))}"
            )
        return server_id

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of one prompt, or None while it is queued or running (or unknown)."""
        answer = self._json_object("GET", f"/history/{urllib.parse.quote(prompt_id)}")
        entry = answer.get(prompt_id)
        if entry is None:
            return None
        if not isinstance(entry, dict):
            raise ProtocolError(f"ComfyUI at {self.base_url} sent a malformed history entry for {prompt_id}")
        return entry

    def download(self, file_ref: Mapping[str, Any], destination: str, *, verify: Verify | None = None) -> int:
        """Stream one output file (a {filename, subfolder, type} reference) to destination, atomically;
        `verify` checks the complete file before it takes its name."""
        query = {
            "filename": str(file_ref.get("filename", "")),
            "subfolder": str(file_ref.get("subfolder", "")),
            "type": str(file_ref.get("type", "output")),
        }
        what = f"output file '{query['filename']}'"
        response = self._open("GET", "/view", query=query, what=what, deadline=self.policy.download_seconds)
        with response:
            return write_atomically(stream(response, self.base_url, what, COMFYUI), destination, verify=verify)

    def upload_image(self, path: str, subfolder: str = "", *, overwrite: bool = False) -> str:
        """Upload a local image; return the name a LoadImage node needs (`subfolder/name`)."""
        content = read_init_image(path)
        filename = sanitize_filename(os.path.basename(path), fallback="init_image")
        fields = {"type": "input", "subfolder": subfolder, "overwrite": "true" if overwrite else "false"}
        body, content_type = multipart(fields, [("image", filename, content)])
        answer = self._json_object(
            "POST", "/upload/image", raw_body=body, content_type=content_type, what=f"upload of {filename}"
        )
        name = answer.get("name")
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"ComfyUI at {self.base_url} accepted the upload but named no file")
        server_subfolder = str(answer.get("subfolder") or "")
        return f"{server_subfolder}/{name}" if server_subfolder else name

    def interrupt(self, prompt_id: str | None = None) -> None:
        """Stop the running prompt. With a prompt_id, new servers stop only that one."""
        self._call_without_answer("POST", "/interrupt", {"prompt_id": prompt_id} if prompt_id else {})

    def delete_from_queue(self, ids: list[str]) -> None:
        """Remove pending prompts; the running one is not affected (use interrupt)."""
        self._call_without_answer("POST", "/queue", {"delete": list(ids)})

    def events(self, client_id: str, *, connect_timeout: float | None = None) -> ComfyEventStream:
        """A connected websocket event stream for this client_id (use as a context manager)."""
        stream = ComfyEventStream(
            self.base_url, client_id, connect_timeout=connect_timeout or self.timeout, policy=self.policy
        )
        stream.connect()
        return stream

    # --- plumbing --------------------------------------------------------------------------

    def _call_without_answer(self, method: str, path: str, body: Any) -> None:
        with self._open(method, path, body=body) as response:
            read_all(response, self.base_url, COMFYUI)

    def _json_object(self, method: str, path: str, *, limit: int | None = None, **kwargs: Any) -> dict[str, Any]:
        with self._open(method, path, **kwargs) as response:
            raw = read_all(response, self.base_url, COMFYUI, limit=limit, what=f"its answer to {method} {path}")
        return json_object(
            raw,
            self.base_url,
            path,
            COMFYUI,
            hint="Is this address really a ComfyUI server (and not another program or a proxy page)?",
        )

    def _open(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        raw_body: bytes | None = None,
        content_type: str = "application/json",
        rejected: Any = None,
        what: str = "",
        deadline: float | None = None,
    ) -> Answer:
        url = self.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = json_request(url, method, body=body, raw_body=raw_body, content_type=content_type)
        try:
            return send(request, self.timeout, self.base_url, COMFYUI, policy=self.policy, deadline=deadline)
        except ErrorAnswer as answer:
            # ComfyUI itself answers a refused workflow with 400 (403 on some versions) and its JSON
            # error; a 401, or a 403 without that JSON, comes from what guards the server.
            if rejected is not None and answer.status in (400, 409):
                raise rejected(answer.status, answer.body, self.base_url) from None
            if rejected is not None and answer.status == 403 and is_comfy_rejection(answer.body):
                raise rejected(answer.status, answer.body, self.base_url) from None
            if answer.status in (401, 403):
                raise self.policy.credentials.refused(answer.status, what or f"{method} {path}") from None
            raise self._status_error(answer.status, answer.body, what or f"{method} {path}") from None

    def _status_error(self, status: int, body: bytes, what: str) -> BackendError:
        detail = snippet(body) or "(empty answer)"
        if status in (429, 503):
            return BackendBusy(
                f"ComfyUI at {self.base_url} is busy (HTTP {status}) for {what}", hint="It will be tried again shortly."
            )
        if status in (400, 404) and what.startswith("output file"):
            return ProtocolError(
                f"ComfyUI at {self.base_url} listed {what} but cannot serve it (HTTP {status})",
                hint="The file may have been moved or deleted on the server; generate again.",
            )
        if status == 413:
            return InvalidRequest(
                f"ComfyUI at {self.base_url} says {what} is too large (HTTP 413)",
                hint="Use a smaller init image or raise ComfyUI's --max-upload-size.",
            )
        if status >= 500:
            return ProtocolError(
                f"ComfyUI at {self.base_url} failed with an internal error (HTTP {status}) for {what}: {detail}",
                hint="See the ComfyUI console for the reason.",
            )
        if status == 404:  # a core endpoint missing: the address is not a ComfyUI server's root
            error = ProtocolError(
                f"ComfyUI at {self.base_url} has no {what} endpoint (HTTP 404): {detail}",
                hint=f"Is {self.base_url} the root address of a ComfyUI server (like http://127.0.0.1:8188)?",
            )
            error.address_failure = True
            return error
        return ProtocolError(f"ComfyUI at {self.base_url} answered {what} with HTTP {status}: {detail}")


# --- websocket ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ComfyEvent:
    """One websocket message. Previews (binary frames) have type "preview" and carry `image`."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    image: bytes | None = None
    image_format: str = ""  # "png" | "jpeg" for previews

    @property
    def prompt_id(self) -> str | None:
        value = self.data.get("prompt_id")
        return value if isinstance(value, str) else None


class EventStreamClosed(ProtocolError):
    """The websocket dropped. The job may still be running: fall back to polling /history."""


class ComfyEventStream:
    """A websocket session on /ws?clientId=..., yielding parsed events."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        *,
        connect_timeout: float = 10.0,
        policy: TransportPolicy = DEFAULT_POLICY,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.connect_timeout = connect_timeout
        self.policy = with_server_credentials(policy, self.base_url, f"ComfyUI at {self.base_url}")
        self._socket: websocket.WebSocket | None = None

    @property
    def url(self) -> str:
        parts = urllib.parse.urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urllib.parse.urlencode({"clientId": self.client_id})
        return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path + "/ws", query, ""))

    def connect(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        try:
            # The address policy as for HTTP: a plain ws:// socket is opened by it; wss:// is
            # left to websocket-client (it wraps the socket itself) once the host has passed.
            options: dict[str, Any] = {}
            if parts.scheme == "ws":
                address = (parts.hostname or "", parts.port or 80)
                options["socket"] = connect(address, self.connect_timeout, online_access=self.policy.online_access)
            elif not self.policy.online_access and not is_loopback_host(parts.hostname or ""):
                raise UnsafeURL(f"{parts.hostname} is not on this machine and Blender's online access is off")
            # No Origin header: ComfyUI's origin guard rejects an Origin that differs from Host.
            # No redirects: websocket-client would follow them to any host.
            # The server's credentials on the upgrade request, as on every HTTP request to it.
            headers = [f"{name}: {value}" for name, value in self.policy.credentials.headers_for(self.url).items()]
            sock = websocket.create_connection(
                self.url,
                timeout=self.connect_timeout,
                suppress_origin=True,
                redirect_limit=0,
                header=headers,
                **options,
            )
            # Announcing preview metadata makes previews carry their prompt_id (binary type 4).
            sock.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        except websocket.WebSocketBadStatusException as exc:
            if exc.status_code in (401, 403):
                raise self.policy.credentials.refused(exc.status_code, "its event stream (/ws)") from None
            raise BackendUnreachable(
                f"cannot open the event stream of ComfyUI at {self.base_url}: HTTP {exc.status_code}",
                hint=f"Is ComfyUI running at {self.base_url}? {fill_address(START_HINT, self.base_url)}",
            ) from None
        except (OSError, websocket.WebSocketException, ValueError) as exc:
            why = self.policy.credentials.scrub(str(exc))
            raise BackendUnreachable(
                f"cannot open the event stream of ComfyUI at {self.base_url}: {why}",
                hint=f"Is ComfyUI running at {self.base_url}? {fill_address(START_HINT, self.base_url)}",
            ) from exc
        self._socket = sock

    def receive(self, timeout: float) -> ComfyEvent | None:
        """The next event, or None if nothing useful arrived within `timeout` seconds."""
        if self._socket is None:
            raise EventStreamClosed(f"the event stream of {self.base_url} is not connected")
        # A frame must be whole within its own deadline: one dripped a byte at a time would
        # otherwise hold the job past every check (the watchdog shuts the socket).
        clock = Deadline(timeout + self.connect_timeout)
        clock.watch(self._socket)
        WATCHDOG.arm(clock)
        try:
            self._socket.settimeout(timeout)
            opcode, payload = self._socket.recv_data()
        except websocket.WebSocketTimeoutException:
            return None
        except (OSError, websocket.WebSocketException) as exc:
            self.close()
            if clock.fired:
                raise EventStreamClosed(
                    f"ComfyUI at {self.base_url} sent an event too slowly; polling instead"
                ) from exc
            raise EventStreamClosed(f"the event stream of ComfyUI at {self.base_url} dropped: {exc}") from exc
        finally:
            WATCHDOG.disarm(clock)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.close()
            raise EventStreamClosed(f"ComfyUI at {self.base_url} closed the event stream")
        if opcode == websocket.ABNF.OPCODE_BINARY:
            return decode_binary_frame(bytes(payload))
        return parse_text_frame(payload)

    def __iter__(self) -> Iterator[ComfyEvent]:
        """Events until the stream closes (blocks between them)."""
        while self._socket is not None:
            try:
                event = self.receive(timeout=self.connect_timeout)
            except EventStreamClosed:
                return
            if event is not None:
                yield event

    def close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            with contextlib.suppress(OSError, websocket.WebSocketException):  # already gone
                sock.close(timeout=1)

    def __enter__(self) -> ComfyEventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def parse_text_frame(payload: bytes | str) -> ComfyEvent | None:
    """A JSON text message {"type", "data"}; anything else is ignored rather than fatal."""
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    data = message.get("data")
    return ComfyEvent(message["type"], data if isinstance(data, dict) else {})


def decode_binary_frame(payload: bytes) -> ComfyEvent | None:
    """Binary frames: 4-byte big-endian event type, then a type-specific layout (see protocol notes)."""
    if len(payload) < 8:
        return None
    event_type = int.from_bytes(payload[:4], "big")
    word = int.from_bytes(payload[4:8], "big")
    if event_type == 1:  # PREVIEW_IMAGE: format (1 JPEG, 2 PNG), image
        image = payload[8:]
        return ComfyEvent("preview", {}, image, _image_format(image, "png" if word == 2 else "jpeg"))
    if event_type == 4:  # PREVIEW_IMAGE_WITH_METADATA: JSON length, JSON, image
        try:
            metadata = json.loads(payload[8 : 8 + word])
        except (ValueError, UnicodeDecodeError):
            return None
        image = payload[8 + word :]
        declared = str(metadata.get("image_type", "")) if isinstance(metadata, dict) else ""
        return ComfyEvent(
            "preview",
            metadata if isinstance(metadata, dict) else {},
            image,
            _image_format(image, "png" if declared.endswith("png") else "jpeg"),
        )
    if event_type == 3:  # TEXT: node id length, node id, text
        node = payload[8 : 8 + word].decode("utf-8", "replace")
        return ComfyEvent("progress_text", {"node": node, "text": payload[8 + word :].decode("utf-8", "replace")})
    return None  # unknown or internal types are ignorable by protocol


def _image_format(image: bytes, declared: str) -> str:
    return "png" if image.startswith(_PNG_MAGIC) else declared
