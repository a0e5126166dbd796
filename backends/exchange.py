"""One HTTP exchange under a TransportPolicy: the only way a client's bytes go over HTTP.

* Every connection goes through the address policy (urls.connect), on the address it really
  reaches: the first URL, every redirect hop, every URL a server handed back.
* Redirects are followed by hand, only to http(s) and only within the origin of the first URL
  (unless the policy allows other origins; then without credentials or custom headers).
* The server's credentials (policy.credentials) are added on each hop whose origin is the
  server's own, and on no other.
* One deadline covers the whole exchange (connect, headers, body): a watchdog thread shuts the
  socket when it passes, so a server that drips a byte a second cannot hold a worker; the same
  watchdog shuts it when a cancel event is set (deadline.py).
* Reads are bounded: an answer, a line, a download may not grow past the policy's limits (answer.py).

Stdlib only (it runs inside Blender). Network failures stay raw here (OSError, HTTPException) and
are worded by http.py, which knows the service; policy refusals are typed errors already.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from email.message import Message
from typing import Any

from .answer import READ_ERRORS, Answer, close_quietly
from .base import BackendError, Cancelled, ProtocolError
from .deadline import WATCHDOG, Deadline, too_slow
from .policy import TransportPolicy
from .urls import ONLINE_ACCESS_HINT, UnsafeURL, connect, is_loopback_host

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_HOPS = 5
ERROR_BODY_BYTES = 1024 * 1024  # an error answer is read for its message only
_PORTABLE_HEADERS = frozenset({"accept", "user-agent"})  # all that may go to another origin


class OffMachine(ProtocolError):
    """A URL (given, handed back or redirected to) leaves this machine while online access is off."""


class RedirectRefused(ProtocolError):
    """A redirect to another origin or to something that is not http(s)."""


class ErrorStatus(Exception):
    """The final answer had an HTTP error status (or a redirect that was not followed); body read, closed."""

    def __init__(self, status: int, body: bytes, headers: Message, url: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers
        self.url = url


def origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def exchange(
    url: str,
    method: str,
    *,
    policy: TransportPolicy,
    label: str,
    on_error: Callable[[BaseException], BackendError],
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    idle_timeout: float = 30.0,
    deadline: float = 30.0,
    cancel: threading.Event | None = None,
) -> Answer:
    """The answer to `method url`, redirects followed under the policy. An error status raises ErrorStatus.

    `label` names the server in messages ("ComfyUI at http://..."); `on_error` words a broken
    connection. `idle_timeout` bounds each wait for a byte, `deadline` the whole exchange.
    """
    clock = Deadline(deadline, cancel)
    WATCHDOG.arm(clock)
    try:
        return _follow(url, method, body, dict(headers or {}), policy, label, on_error, idle_timeout, clock)
    except BaseException:
        WATCHDOG.disarm(clock)
        raise


def _follow(
    url: str,
    method: str,
    body: Any,
    headers: dict[str, str],
    policy: TransportPolicy,
    label: str,
    on_error: Callable[[BaseException], BackendError],
    idle_timeout: float,
    clock: Deadline,
) -> Answer:
    first_origin = origin(url)
    for _hop in range(MAX_HOPS + 1):
        hop_headers = headers if origin(url) == first_origin else _portable(headers)
        # The server's credentials go to its own origin only: checked on every hop, so neither a
        # redirect nor a URL the server handed back carries them anywhere else.
        hop_headers = {**hop_headers, **policy.credentials.headers_for(url)}
        connection, response = _send_once(
            url, method, body, hop_headers, policy, label, idle_timeout, clock, first=_hop == 0
        )
        answer = Answer(connection, response, url, clock, policy, label, on_error)
        if response.status in REDIRECT_STATUSES:
            location = response.getheader("Location")
            with contextlib.suppress(BackendError):
                answer.read_all(ERROR_BODY_BYTES, "a redirect")
            close_quietly(connection, response)
            if not location:
                raise ProtocolError(f"{label} redirected (HTTP {response.status}) without saying where")
            url = _redirect_target(url, location, first_origin, policy, label)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, body = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
            elif body is not None and hasattr(body, "seek"):
                body.seek(0)  # a file upload is sent again from its start
            continue
        if response.status >= 300:
            try:
                error_body = answer.read_all(ERROR_BODY_BYTES, "an error answer")
            except BackendError:
                error_body = b""
            finally:
                close_quietly(connection, response)
                WATCHDOG.disarm(clock)
            # A server may echo what it was sent (a refused token): it never reaches a message.
            raise ErrorStatus(response.status, policy.credentials.scrub_bytes(error_body), response.headers, url)
        return answer
    raise ProtocolError(f"{label} redirects in circles (more than {MAX_HOPS} hops)")


def _send_once(
    url: str,
    method: str,
    body: Any,
    headers: Mapping[str, str],
    policy: TransportPolicy,
    label: str,
    idle_timeout: float,
    clock: Deadline,
    *,
    first: bool,
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    timeout = min(idle_timeout, clock.left())
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)

    def policed(address: tuple[str, int], timeout: float | None = None, source: object = None) -> socket.socket:
        return connect(address, min(timeout or idle_timeout, clock.left()), online_access=policy.online_access)

    # http.client opens its socket through this attribute (HTTPS wraps it afterwards): the one
    # place where every connection, to every hop, passes the address policy.
    connection._create_connection = policed  # type: ignore[attr-defined]
    clock.watch(connection)
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    try:
        connection.request(method, target, body=body, headers=dict(headers))
        response = connection.getresponse()
    except UnsafeURL:
        connection.close()
        where = f"{label} is" if first else f"{label} redirected Shotcaller to {parts.hostname}, which is"
        raise OffMachine(
            f"{where} not on this machine, and Blender's online access is off",
            hint=f"Nothing was sent there. If that server is yours, {ONLINE_ACCESS_HINT}.",
        ) from None
    except READ_ERRORS:
        connection.close()
        if clock.fired == "cancel":
            raise Cancelled(f"the exchange with {label} was cancelled") from None
        if clock.fired:
            raise too_slow(label, url, clock) from None
        raise
    return connection, response


def check_handed_back(url: str, policy: TransportPolicy, label: str, what: str) -> str:
    """A URL a server handed back (an image link, a download link), checked before anything is sent:
    http(s) only, and on this machine unless online access is on (no DNS lookup to decide)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProtocolError(f"{label} handed back {what} at {url[:120]!r}, which is not an http(s) address")
    if not policy.online_access and not is_loopback_host(parts.hostname):
        raise OffMachine(
            f"{label} handed back {what} at {parts.hostname}, which is not on this machine, and Blender's"
            " online access is off",
            hint=f"Nothing was fetched from there. {ONLINE_ACCESS_HINT[0].upper()}{ONLINE_ACCESS_HINT[1:]}.",
        )
    return url


def _redirect_target(url: str, location: str, first_origin: str, policy: TransportPolicy, label: str) -> str:
    target = urllib.parse.urljoin(url, location.strip())
    parts = urllib.parse.urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RedirectRefused(
            f"{label} redirected Shotcaller to {target[:120]!r}, which is not an http(s) address",
            hint="Shotcaller follows redirects only to http and https; the server itself answered,"
            " so check what runs at that address (a proxy or another program?).",
        )
    if origin(target) != first_origin and not policy.cross_origin_redirects:
        raise RedirectRefused(
            f"{label} redirected Shotcaller to another server ({origin(target)})",
            hint="Shotcaller does not follow redirects to other servers; put the final address in the"
            " preferences if it is right.",
        )
    return target


def _portable(headers: Mapping[str, str]) -> dict[str, str]:
    """What may travel to another origin: no credentials, no custom headers."""
    return {k: v for k, v in headers.items() if k.lower() in _PORTABLE_HEADERS}
