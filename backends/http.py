"""HTTP plumbing the backend clients share: sending a request, network failures as typed errors,
reading and streaming answers, JSON answers, upload bodies.

Every request goes through exchange.py under the client's TransportPolicy (policy.py): the
address policy on every hop, same-origin redirects, one deadline per exchange, bounded reads.

Stdlib only (it runs inside Blender). What a broken connection means is the same for every
service, so it is mapped here once; what a service's HTTP error answers mean differs per service
on purpose and stays in that service's own errors module. The words differ too (a proxy is not a
server, Wan2GP serves plain http), so each service describes itself with a `Service`.
"""

from __future__ import annotations

import http.client
import json
import mimetypes
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

from .answer import READ_ERRORS, Answer
from .base import BackendError, BackendUnreachable, InvalidRequest, ProtocolError
from .exchange import ErrorStatus, exchange
from .policy import DEFAULT_POLICY, TransportPolicy

# What a read can raise (answer.READ_ERRORS: a dropped connection, a malformed reply); opening can
# raise ValueError too, for an address urllib cannot parse.
OPEN_ERRORS = (*READ_ERRORS, ValueError)


@dataclass(frozen=True)
class Service:
    """How transport errors speak of one service. Each phrase has a default; set what differs."""

    name: str  # "ComfyUI": "ComfyUI at <url> did not answer in time"
    start_hint: str  # how to start it; ends every "is it running?" hint
    example_url: str  # "Use a full address such as <example_url>."
    program: str = ""  # "Is <program> still running at <url>?"; default: the name
    settings_name: str = "server"  # "Check the <settings_name> address in Shotcaller's preferences."
    url_name: str = ""  # "the <url_name> address '<url>' is not a valid URL"; default: settings_name
    ssl_hint: str = "Check whether the server uses http:// or https://."
    not_http_hint: str = ""  # default: "Is this address really a <name> server?"
    refused_question: str = ""  # default: "Is <program> running at {url}?"; "{url}" is filled in


class ErrorAnswer(Exception):
    """The server answered with an HTTP error status (or a redirect the opener did not follow).

    Its body is read and the connection closed; each client turns it into its own typed error.
    """

    def __init__(self, status: int, body: bytes, headers: Message) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers


def snippet(body: bytes | str, limit: int = 200) -> str:
    """A server's text on one line, cut to `limit` characters: for error messages."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def fill_address(hint: str, url: str) -> str:
    """A start hint naming the address actually used: {port} is the URL's port, {listen} the address
    to listen on (loopback for this machine, every interface for a server others reach)."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a malformed port: the hint cannot name one
        return hint.replace("{port}", "PORT").replace("{listen}", "127.0.0.1")
    host = parts.hostname or "127.0.0.1"
    listen = host if host in {"127.0.0.1", "localhost", "::1"} else "0.0.0.0"
    return hint.replace("{port}", str(port)).replace("{listen}", listen)


def transport_error(exc: BaseException, url: str, service: Service) -> BackendError:
    """A network-level failure, as an error that says whether the server is there at all."""
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    name, start = service.name, fill_address(service.start_hint, url)
    program = service.program or name
    if isinstance(reason, http.client.IncompleteRead):
        return ProtocolError(
            f"{name} at {url} stopped answering in the middle of a reply", hint="The connection dropped; try again."
        )
    if isinstance(reason, ConnectionRefusedError):
        question = (service.refused_question or f"Is {program} running at {{url}}?").format(url=url)
        refused = BackendUnreachable(f"nothing is listening at {url} (connection refused)", hint=f"{question} {start}")
        refused.went_away = "nothing is listening there any more (connection refused)"
        return refused
    if isinstance(reason, socket.gaierror):
        return BackendUnreachable(
            f"the host name in {url} could not be resolved",
            hint=f"Check the {service.settings_name} address in Shotcaller's preferences.",
        )
    if isinstance(reason, TimeoutError):
        return BackendUnreachable(
            f"{name} at {url} did not answer in time", hint=f"Is {program} running at {url} and not frozen? {start}"
        )
    if isinstance(reason, ssl.SSLError):
        return BackendUnreachable(f"secure connection to {url} failed: {reason}", hint=service.ssl_hint)
    if isinstance(reason, ConnectionError):  # reset, aborted, closed before answering
        dropped = BackendUnreachable(
            f"{name} at {url} closed the connection ({type(reason).__name__})",
            hint=f"Is {program} still running at {url}? {start}",
        )
        dropped.went_away = f"it closed the connection ({type(reason).__name__})"
        return dropped
    if isinstance(reason, http.client.HTTPException):
        error = ProtocolError(
            f"{url} answered with something that is not HTTP ({type(reason).__name__})",
            hint=service.not_http_hint or f"Is this address really a {name} server?",
        )
        error.address_failure = True  # another template on the same address would fare no better
        return error
    if isinstance(reason, ValueError):
        return BackendUnreachable(
            f"the {service.url_name or service.settings_name} address {url!r} is not a valid URL",
            hint=f"Use a full address such as {service.example_url}.",
        )
    return BackendUnreachable(f"cannot reach {name} at {url}: {reason}", hint=f"Is {program} running at {url}? {start}")


def json_request(
    url: str,
    method: str,
    *,
    body: Any = None,
    raw_body: bytes | None = None,
    content_type: str = "application/json",
) -> urllib.request.Request:
    """A request carrying `body` as JSON, or `raw_body` as it is (of `content_type`), or nothing."""
    data = raw_body if raw_body is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    return request


def send(
    request: urllib.request.Request,
    timeout: float,
    url: str,
    service: Service,
    *,
    policy: TransportPolicy = DEFAULT_POLICY,
    deadline: float | None = None,
    cancel: threading.Event | None = None,
) -> Answer:
    """The answer to `request` under `policy`; an HTTP error status raises ErrorAnswer, anything else
    a typed error. `url` is the server's address for messages; `timeout` bounds each wait for a
    byte and `deadline` (default: `timeout`) the whole exchange, body included."""
    headers = {name: value for name, value in request.header_items()}
    try:
        return exchange(
            request.full_url,
            request.get_method(),
            policy=policy,
            label=f"{service.name} at {url}",
            on_error=lambda exc: transport_error(exc, url, service),
            body=request.data,
            headers=headers,
            idle_timeout=timeout,
            deadline=deadline or timeout,
            cancel=cancel,
        )
    except ErrorStatus as status:
        raise ErrorAnswer(status.status, status.body, status.headers) from None
    except OPEN_ERRORS as exc:
        raise transport_error(exc, url, service) from exc


def read_all(response: Answer, url: str, service: Service, *, limit: int | None = None, what: str = "") -> bytes:
    """The whole answer, at most `limit` bytes (default: the policy's answer limit)."""
    return response.read_all(limit, what or "an answer")


def stream(response: Answer, url: str, what: str, service: Service) -> Iterator[bytes]:
    """The body in chunks, within the download limit. Errors are BackendErrors, so write_atomically
    discards a partial file."""
    return response.chunks(what)


def json_object(
    raw: bytes, url: str, path: str, service: Service, *, hint: str, quote: Callable[[bytes], str] = snippet
) -> dict[str, Any]:
    """The JSON object a server answered `path` with; anything else is a ProtocolError (with `hint`
    when it is not JSON at all). `quote` puts the server's text into the message."""
    try:
        answer = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(
            f"{service.name} at {url} answered {path} with something that is not JSON: {quote(raw) or '(empty)'}",
            hint=hint,
        ) from None
    if not isinstance(answer, dict):
        raise ProtocolError(f"{service.name} at {url} answered {path} with {quote(raw)}")
    return answer


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")  # NaN, Infinity: Python's json would take them


def unreadable_init_image(path: str, exc: OSError) -> InvalidRequest:
    """The shot's init image cannot be read for an upload: the shot is wrong, no server would do better."""
    return InvalidRequest(
        f"cannot read the init image {path}: {exc.strerror or exc}", hint="Check the shot's init image path."
    )


def read_init_image(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise unreadable_init_image(path, exc) from exc


def multipart(
    fields: Mapping[str, str] | Iterable[tuple[str, str]], files: Iterable[tuple[str, str, bytes]]
) -> tuple[bytes, str]:
    """A multipart/form-data body (fields may repeat; files are (field, filename, content)) and its Content-Type."""
    boundary = f"----shotcaller{uuid.uuid4().hex}"
    items = fields.items() if isinstance(fields, Mapping) else fields
    parts: list[bytes] = []
    for name, value in items:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, content in files:
        safe = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
        file_type = mimetypes.guess_type(safe)[0] or "application/octet-stream"
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{safe}"\r\n'
            f"Content-Type: {file_type}\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
