"""Blocking wire-level HTTP for tests that talk to a reference server: every answer is a `Reply`,
error statuses included (a test asserts on them rather than catching exceptions)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return None


_NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


def fetch(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    follow_redirects: bool = True,
) -> Reply:
    """One exchange. Without `follow_redirects` a 3xx is returned as it is, for tests of redirects."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.urlopen if follow_redirects else _NO_REDIRECTS.open
    try:
        with opener(request, timeout=30) as response:
            return Reply(response.status, response.read(), dict(response.headers))
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.read(), dict(error.headers))
