"""ComfyUI's websocket event stream (/ws?clientId=...): connecting under the address policy, frames
each within a deadline, text and binary messages parsed into ComfyEvents.

websocket-client is the one dependency beyond the stdlib; a dropped stream is EventStreamClosed,
after which the backend follows the job by polling /history instead.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import websocket

from ..base import BackendUnreachable, ProtocolError
from ..credentials import with_server_credentials
from ..deadline import WATCHDOG, Deadline
from ..http import fill_address
from ..policy import DEFAULT_POLICY, TransportPolicy
from ..urls import UnsafeURL, connect, is_loopback_host
from .errors import START_HINT

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
