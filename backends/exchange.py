"""One HTTP exchange under a TransportPolicy: the only way a client's bytes go over HTTP.

* Every connection goes through the address policy (urls.connect), on the address it really
  reaches: the first URL, every redirect hop, every URL a server handed back.
* Redirects are followed by hand, only to http(s) and only within the origin of the first URL
  (unless the policy allows other origins; then without credentials or custom headers).
* The server's credentials (policy.credentials) are added on each hop whose origin is the
  server's own, and on no other.
* One deadline covers the whole exchange (connect, headers, body): a watchdog thread shuts the
  socket when it passes, so a server that drips a byte a second cannot hold a worker; the same
  watchdog shuts it when a cancel event is set.
* Reads are bounded: an answer, a line, a download may not grow past the policy's limits.

Stdlib only (it runs inside Blender). Network failures stay raw here (OSError, HTTPException) and
are worded by http.py, which knows the service; policy refusals are typed errors already.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from email.message import Message
from typing import Any

from .base import BackendError, BackendUnreachable, Cancelled, ProtocolError
from .policy import TransportPolicy, describe_bytes
from .urls import ONLINE_ACCESS_HINT, UnsafeURL, connect, is_loopback_host

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_HOPS = 5
CHUNK = 64 * 1024
ERROR_BODY_BYTES = 1024 * 1024  # an error answer is read for its message only
_PORTABLE_HEADERS = frozenset({"accept", "user-agent"})  # all that may go to another origin
_READ_ERRORS = (OSError, http.client.HTTPException)


class TooLarge(ProtocolError):
    """An answer, a line or a file went past its limit; nothing of it was kept."""


class OffMachine(ProtocolError):
    """A URL (given, handed back or redirected to) leaves this machine while online access is off."""


class RedirectRefused(ProtocolError):
    """A redirect to another origin or to something that is not http(s)."""


class TooSlow(BackendUnreachable):
    """The exchange did not finish within its total deadline."""


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


# --- the watchdog -----------------------------------------------------------------------------


class Deadline:
    """The end of one exchange. When it passes (or `cancel` is set), the socket is shut down."""

    def __init__(self, seconds: float, cancel: threading.Event | None = None) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.cancel = cancel
        self.fired = ""  # "deadline" or "cancel" once it has shut the socket
        self._connection: Any = None  # anything with a `.sock`: an HTTPConnection, a websocket
        self._lock = threading.Lock()

    def left(self) -> float:
        return max(0.001, self.at - time.monotonic())

    def due(self, now: float) -> str:
        if self.cancel is not None and self.cancel.is_set():
            return "cancel"
        return "deadline" if now >= self.at else ""

    def watch(self, connection: Any) -> None:
        with self._lock:
            self._connection = connection
        if self.fired:
            self._shut()

    def fire(self, why: str) -> None:
        self.fired = why
        self._shut()

    def _shut(self) -> None:
        with self._lock:
            sock = self._connection.sock if self._connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for every armed Deadline of the process."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[Deadline] = set()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: Deadline) -> None:
        with self._cond:
            self._armed.add(deadline)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="shotcaller-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def disarm(self, deadline: Deadline) -> None:
        with self._cond:
            self._armed.discard(deadline)

    def _loop(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [(d, why) for d in self._armed if (why := d.due(now))]
                for deadline, _ in due:
                    self._armed.discard(deadline)
                waits = [d.at - now for d in self._armed]
                if any(d.cancel is not None for d in self._armed):
                    waits.append(0.05)  # cancel events are looked at this often
                if not due:
                    self._cond.wait(min(waits) if waits else None)
            for deadline, why in due:
                deadline.fire(why)


WATCHDOG = _Watchdog()


# --- the exchange -----------------------------------------------------------------------------


class Answer:
    """A response whose reads keep to the policy's limits and the exchange's deadline.

    Reads raise typed errors: TooLarge past a limit, TooSlow past the deadline, Cancelled when the
    cancel event shut it, and whatever `on_error` makes of a broken connection.
    """

    def __init__(
        self,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        url: str,
        deadline: Deadline,
        policy: TransportPolicy,
        label: str,
        on_error: Callable[[BaseException], BackendError],
    ) -> None:
        self._connection = connection
        self._response = response
        self.url = url
        self.status = response.status
        self.headers: Message = response.headers
        self.deadline = deadline
        self.policy = policy
        self.label = label  # "ComfyUI at http://127.0.0.1:8188": how messages name the server
        self._on_error = on_error

    # what urllib's responses offered, for the clients
    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self._response.getheader(name, default)

    def read_all(self, limit: int | None = None, what: str = "an answer") -> bytes:
        """The whole body, at most `limit` bytes (default: the policy's answer limit)."""
        limit = self.policy.answer_bytes if limit is None else limit
        declared = self._declared_length()
        if declared is not None and declared > limit:
            raise self._too_large(what, limit, f"it announced {describe_bytes(declared)}")
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = self._read(lambda: self._response.read1(CHUNK))
            if not chunk:
                if declared is not None and size < declared:  # read1 says b"" where read() raised
                    raise self._on_error(http.client.IncompleteRead(b"".join(parts), declared - size))
                return b"".join(parts)
            size += len(chunk)
            if size > limit:
                raise self._too_large(what, limit, "it sent more")
            parts.append(chunk)

    read = read_all

    def chunks(self, what: str, limit: int | None = None) -> Iterator[bytes]:
        """The body in pieces, for a download: at most `limit` bytes (default: the download limit),
        and all the bytes the server announced (a cut connection is an error, not a short file)."""
        limit = self.policy.download_bytes if limit is None else limit
        declared = self._declared_length()
        if declared is not None and declared > limit:
            raise self._too_large(what, limit, f"it announced {describe_bytes(declared)}", download=True)
        received = 0
        while True:
            chunk = self._read(lambda: self._response.read1(CHUNK))
            if not chunk:
                break
            received += len(chunk)
            if received > limit:
                raise self._too_large(what, limit, "it sent more", download=True)
            yield chunk
        if declared is not None and received != declared:
            raise ProtocolError(
                f"{self.label} stopped sending {what} after {received} of {declared} bytes",
                hint="The connection dropped; generate again.",
            )

    def readline(self, limit: int | None = None, what: str = "an event-stream line") -> bytes:
        """One line (b"" at the end), at most `limit` bytes (default: the answer limit)."""
        limit = self.policy.answer_bytes if limit is None else limit
        line = self._read(lambda: self._response.readline(limit + 1))
        if len(line) > limit:
            raise self._too_large(what, limit, "it sent a longer one")
        return line

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def close(self) -> None:
        WATCHDOG.disarm(self.deadline)
        self._response.close()
        self._connection.close()

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _declared_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return int(value) if value is not None and value.strip().isdigit() else None

    def _read(self, read: Callable[[], bytes]) -> bytes:
        try:
            data = read()
        except _READ_ERRORS as exc:
            self._raise_if_fired()
            raise self._on_error(exc) from exc
        if not data:
            self._raise_if_fired()
        return data

    def _raise_if_fired(self) -> None:
        if self.deadline.fired == "cancel":
            raise Cancelled(f"the exchange with {self.label} was cancelled")
        if self.deadline.fired:
            raise too_slow(self.label, self.url, self.deadline)

    def _too_large(self, what: str, limit: int, how: str, *, download: bool = False) -> TooLarge:
        _close_quietly(self._connection, self._response)  # the rest is not read; the deadline stays armed
        where = self.policy.download_limit_text() if download else self.policy.answer_limit_text()
        kept = "the partial file was removed; " if download else ""
        return TooLarge(
            f"{self.label} sent {what} larger than the limit of {describe_bytes(limit)} ({how})",
            hint=f"Shotcaller stopped reading it; {kept}if it is genuine, raise the limit: {where}.",
        )


def too_slow(label: str, url: str, deadline: Deadline) -> TooSlow:
    return TooSlow(
        f"{label} did not answer in time: {urllib.parse.urlsplit(url).path or '/'} took longer than"
        f" {deadline.seconds:g} s (the whole answer counts, not just its first byte)",
        hint="The server is overloaded, frozen or sending very slowly; try again or use another server.",
    )


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
            _close_quietly(connection, response)
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
                _close_quietly(connection, response)
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
    except _READ_ERRORS:
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


def _close_quietly(connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
    with contextlib.suppress(OSError):
        response.close()
        connection.close()
