"""A download cut off halfway, as a dropped connection does it: the headers promise the whole file,
half of it arrives, then the connection closes. The servers' `cut_downloads` modes use it to show
that finished work is fetched again, not made again."""

from __future__ import annotations

import threading

from aiohttp import web


class CutCounter:
    """How many of the next downloads to cut off (thread-safe: tests set it from their own thread)."""

    def __init__(self, count: int = 0) -> None:
        self._count = max(0, count)
        self._lock = threading.Lock()
        self.cut = 0  # downloads cut off so far

    def arm(self, count: int = 1) -> None:
        with self._lock:
            self._count = max(0, count)

    def take(self) -> bool:
        """True (and one fewer left) when this download is to be cut off."""
        with self._lock:
            if self._count <= 0:
                return False
            self._count -= 1
            self.cut += 1
            return True


async def cut_off(request: web.Request, path: str, headers: dict[str, str]) -> web.StreamResponse:
    """Half of the file at `path` under a Content-Length for all of it, then the connection drops."""
    with open(path, "rb") as handle:
        data = handle.read()
    response = web.StreamResponse(headers={**headers, "Content-Length": str(len(data))})
    await response.prepare(request)
    await response.write(data[: len(data) // 2])
    if request.transport is not None:
        request.transport.close()
    return response
