"""Access control the reference servers can be started with, as a reverse proxy or an access gateway
in front of a rented GPU box would add it: a bearer token, HTTP basic auth, or a header with a value.

    require = AccessRule.parse(token="s3cret")                  # or basic="user:password", header="X-Key: v"
    app = web.Application(middlewares=[require.middleware()])

A request without the credential is answered 401 (with a WWW-Authenticate challenge for token and
basic auth), one with a wrong value 403, as most proxies do. It applies to every route, the
websocket upgrade included (aiohttp runs middlewares before a handler prepares the upgrade); the
`/reference/` control routes of the test harness are left open. What it saw is counted per
outcome (`seen`), so a test can tell that credentials arrived, or that none did.
"""

from __future__ import annotations

import argparse
import base64
import hmac
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

OPEN_PREFIXES = ("/reference/",)


@dataclass
class AccessRule:
    token: str = ""
    basic: str = ""  # "user:password"
    header: tuple[str, str] | None = None  # (name, value)
    seen: Counter[str] = field(default_factory=Counter)  # "accepted", "missing", "wrong"

    @classmethod
    def parse(cls, *, token: str = "", basic: str = "", header: str = "") -> AccessRule:
        """From the command line's forms; a malformed one is a ValueError naming the fix."""
        if basic and ":" not in basic:
            raise ValueError(f"--require-basic wants USER:PASSWORD, not {basic!r}")
        pair = None
        if header:
            name, colon, value = header.partition(":")
            if not colon or not name.strip() or not value.strip():
                raise ValueError(f"--require-header wants 'Name: value', not {header!r}")
            pair = (name.strip(), value.strip())
        return cls(token=token, basic=basic, header=pair)

    @property
    def active(self) -> bool:
        return bool(self.token or self.basic or self.header)

    def describe(self) -> str:
        """What it requires, without the values (the server's console line)."""
        parts = []
        if self.token:
            parts.append("a bearer token")
        if self.basic:
            parts.append(f"basic auth as {self.basic.partition(':')[0]}")
        if self.header:
            parts.append(f"the header {self.header[0]}")
        return "requires " + " and ".join(parts) if parts else "open to every request"

    def verdict(self, headers: Mapping[str, str]) -> str:
        """ "accepted", "missing" (401) or "wrong" (403) for a request's headers."""
        get = headers.get
        outcome = "accepted"
        authorization = get("Authorization") or ""
        if self.token:
            outcome = _worse(outcome, _check(authorization, "Bearer ", self.token))
        if self.basic:
            expected = base64.b64encode(self.basic.encode()).decode()
            outcome = _worse(outcome, _check(authorization, "Basic ", expected))
        if self.header:
            value = get(self.header[0])
            outcome = _worse(
                outcome, "missing" if value is None else "accepted" if _same(value, self.header[1]) else "wrong"
            )
        return outcome

    def middleware(self):  # type: ignore[no-untyped-def]
        @web.middleware
        async def require_credentials(request: web.Request, handler):  # type: ignore[no-untyped-def]
            if not self.active or request.path.startswith(OPEN_PREFIXES):
                return await handler(request)
            outcome = self.verdict(request.headers)
            self.seen[outcome] += 1
            if outcome == "missing":
                headers = {}
                if self.token:
                    headers["WWW-Authenticate"] = 'Bearer realm="reference"'
                elif self.basic:
                    headers["WWW-Authenticate"] = 'Basic realm="reference"'
                return web.json_response({"error": "authentication required"}, status=401, headers=headers)
            if outcome == "wrong":
                return web.json_response({"error": "forbidden: these credentials are not allowed"}, status=403)
            return await handler(request)

        return require_credentials


def _check(authorization: str, scheme: str, expected: str) -> str:
    if not authorization.startswith(scheme):
        return "missing" if not authorization else "wrong"
    return "accepted" if _same(authorization[len(scheme) :], expected) else "wrong"


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _worse(a: str, b: str) -> str:
    order = ("accepted", "wrong", "missing")
    return max(a, b, key=order.index)


def add_access_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--require-token", default="", metavar="TOKEN", help="answer 401/403 without this bearer token")
    parser.add_argument(
        "--require-basic", default="", metavar="USER:PASSWORD", help="answer 401/403 without this basic auth"
    )
    parser.add_argument(
        "--require-header", default="", metavar="'NAME: VALUE'", help="answer 401/403 without this header"
    )


def access_rule(args: argparse.Namespace) -> AccessRule:
    return AccessRule.parse(token=args.require_token, basic=args.require_basic, header=args.require_header)


def masked(argv: list[str]) -> list[str]:
    """The command line with the values of --require-* replaced (ComfyUI reports its argv in /system_stats)."""
    out, hide = [], False
    for arg in argv:
        if hide:
            out.append("***")
            hide = False
            continue
        name, eq, _ = arg.partition("=")
        if name in ("--require-token", "--require-basic", "--require-header"):
            out.append(f"{name}=***" if eq else arg)
            hide = not eq
            continue
        out.append(arg)
    return out
