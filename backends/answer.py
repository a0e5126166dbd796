"""An HTTP answer whose reads are bounded: by the policy's size limits and the exchange's deadline.

A server may send an endless body, an endless line or more than it announced; nothing of such an
answer is kept (TooLarge), and a body cut short of its announced length is an error, never a short
file. Network failures stay raw until `on_error` words them (http.py knows the service).
"""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Callable, Iterator
from email.message import Message

from .base import BackendError, Cancelled, ProtocolError
from .deadline import WATCHDOG, Deadline, too_slow
from .policy import TransportPolicy, describe_bytes

CHUNK = 64 * 1024
READ_ERRORS = (OSError, http.client.HTTPException)


class TooLarge(ProtocolError):
    """An answer, a line or a file went past its limit; nothing of it was kept."""


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
        except READ_ERRORS as exc:
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
        close_quietly(self._connection, self._response)  # the rest is not read; the deadline stays armed
        where = self.policy.download_limit_text() if download else self.policy.answer_limit_text()
        kept = "the partial file was removed; " if download else ""
        return TooLarge(
            f"{self.label} sent {what} larger than the limit of {describe_bytes(limit)} ({how})",
            hint=f"Shotcaller stopped reading it; {kept}if it is genuine, raise the limit: {where}.",
        )


def close_quietly(connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
    with contextlib.suppress(OSError):
        response.close()
        connection.close()
