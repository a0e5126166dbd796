"""Per-server credentials: a bearer token, HTTP basic auth, custom headers, and ComfyUI's comfy.org
account key for its API nodes.

A `Credentials` belongs to one server: it knows that server's origin, and `headers_for(url)` gives
its headers only for a URL on that origin. The transport (exchange.py) asks it on every hop, so a
credential never reaches another server: not through a redirect, not through a URL the server
hands back. Its repr names the kinds that are set, never a value; `scrub` takes every value (and
the basic-auth header it makes) out of a text a server echoed back before it becomes a message.

Where they come from: the server's entry in the preferences (stored with Blender's preferences,
never in a .blend), or, headless, environment variables named after the server
(`environment_names`); never a command-line argument, which any process list shows.

Stdlib only (it runs inside Blender).
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .base import CredentialsRefused

# Header names a custom header may not take: the transport or the request itself sets them.
_RESERVED = frozenset({
    "host", "content-length", "content-type", "transfer-encoding", "connection", "upgrade",
    "sec-websocket-key", "sec-websocket-version", "mcp-session-id", "mcp-protocol-version",
})  # fmt: skip
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)
ENV_PREFIX = "SHOTCALLER_"
ENV_SUFFIXES = {
    "bearer_token": "TOKEN",
    "basic_user": "USER",
    "basic_password": "PASSWORD",
    "headers": "HEADERS",
    "comfy_api_key": "COMFY_API_KEY",
}
PREFERENCES_ENTRY = "its entry in Shotcaller's preferences"


class InvalidCredentials(ValueError):
    """Credentials that cannot be sent as they are (a header with a line break, two Authorization
    headers...), refused where they are entered."""


def shown_address(url: str) -> str:
    """An address for messages and logs: a user name or password typed into it is left out."""
    parts = urllib.parse.urlsplit(url.strip())
    if not (parts.username or parts.password):
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the default port filled in; ws(s) counts as http(s)."""
    parts = urllib.parse.urlsplit(url.strip())
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower().rstrip("."), port or (443 if scheme == "https" else 80)


@dataclass(frozen=True, repr=False)
class Credentials:
    """What one server wants to see on every request. Empty by default (most servers want nothing)."""

    server: str = ""  # how messages name the server: its name, or "ComfyUI at <url>"
    url: str = ""  # the server's address: its headers go to this origin only
    bearer_token: str = ""
    basic_user: str = ""
    basic_password: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    comfy_api_key: str = ""  # ComfyUI's API nodes: sent in the prompt's extra_data, not as a header
    where: str = PREFERENCES_ENTRY  # where the user sets them, for hints ("its entry in ...", "$SHOTCALLER_...")
    _origin: tuple[str, str, int] = field(default=("", "", 0), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_origin", origin_of(self.url) if self.url else ("", "", 0))
        self._check()

    # --- what is set ---------------------------------------------------------------------------

    @property
    def has_headers(self) -> bool:
        return bool(self.bearer_token or self.basic_user or self.basic_password or self.headers)

    def kinds(self) -> list[str]:
        """The kinds that are set, in words (no value): for the console and the Test button."""
        found = []
        if self.bearer_token:
            found.append("a bearer token")
        if self.basic_user or self.basic_password:
            found.append("basic auth")
        if self.headers:
            names = ", ".join(name for name, _ in self.headers)
            found.append(f"{'a header' if len(self.headers) == 1 else 'headers'} ({names})")
        if self.comfy_api_key:
            found.append("a comfy.org API key")
        return found

    def __repr__(self) -> str:
        return f"Credentials({', '.join(self.kinds()) or 'none'})"

    __str__ = __repr__

    # --- sending -------------------------------------------------------------------------------

    def same_origin(self, url: str) -> bool:
        return bool(self.url) and origin_of(url) == self._origin

    def headers_for(self, url: str) -> dict[str, str]:
        """The headers to add to a request to `url`: all of them on the server's own origin, none elsewhere."""
        if not self.has_headers or not self.same_origin(url):
            return {}
        out: dict[str, str] = {}
        if self.bearer_token:
            out["Authorization"] = f"Bearer {self.bearer_token}"
        elif self.basic_user or self.basic_password:
            out["Authorization"] = f"Basic {self._basic()}"
        for name, value in self.headers:
            out[name] = value
        return out

    def _basic(self) -> str:
        return base64.b64encode(f"{self.basic_user}:{self.basic_password}".encode()).decode("ascii")

    # --- keeping them out of messages ----------------------------------------------------------

    def secrets(self) -> list[str]:
        """Every value that must not show: tokens, passwords, header values, the basic header's base64."""
        values = [self.bearer_token, self.basic_password, self.comfy_api_key, *(v for _, v in self.headers)]
        if self.basic_user or self.basic_password:
            values.append(self._basic())
        # Longest first, so a value containing another is replaced whole; very short values would
        # blank out ordinary words and are not replaced (they are no secret worth the name anyway).
        return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return text

    def scrub_bytes(self, data: bytes) -> bytes:
        for secret in self.secrets():
            data = data.replace(secret.encode("utf-8", "replace"), b"***")
        return data

    # --- refusals ------------------------------------------------------------------------------

    def refused(self, status: int, what: str, *, fallback_name: str = "") -> CredentialsRefused:
        """The error for an HTTP 401 or 403 of this server: its credentials were refused (or it wants some)."""
        name = self.server or fallback_name or "the server"
        if not self.has_headers:
            return CredentialsRefused(
                f"{name} asks for credentials (HTTP {status} for {what}) and Shotcaller has none for it:"
                f" enter its token, user and password or header in {self.where}",
                hint="If it needs none, check that this machine may use it (a proxy or an access list in front of it).",
            )
        check = self._what_to_check()
        why = "a wrong or expired value" if status == 401 else "a wrong value, or one not allowed there"
        return CredentialsRefused(
            f"{name} refused the credentials (HTTP {status} for {what}): check {check} in {self.where}",
            hint=f"Shotcaller sent them to that server only; {why} is refused like this.",
        )

    def _what_to_check(self) -> str:
        parts = []
        if self.bearer_token:
            parts.append("the token")
        if self.basic_user or self.basic_password:
            parts.append("the user and password")
        if self.headers:
            parts.append("the headers")
        return " and ".join(parts)

    # --- validation ----------------------------------------------------------------------------

    def _check(self) -> None:
        where = f"{self.server or 'a server'}'s credentials"
        if self.bearer_token and (self.basic_user or self.basic_password):
            raise InvalidCredentials(
                f"{where}: a bearer token and basic auth both go in the Authorization header; keep one of them"
            )
        values = [
            ("the token", self.bearer_token),
            ("the user", self.basic_user),
            ("the password", self.basic_password),
        ]
        values += [("the comfy.org API key", self.comfy_api_key)]
        values += [(f"header {name}", value) for name, value in self.headers]
        for label, value in values:
            if any(c in value for c in "\r\n\0"):
                raise InvalidCredentials(f"{where}: {label} contains a line break; paste it again without one")
            if value != value.strip():
                raise InvalidCredentials(f"{where}: {label} starts or ends with a space; remove it")
        if ":" in self.basic_user:
            raise InvalidCredentials(f"{where}: a basic-auth user name cannot contain ':'")
        seen: set[str] = set()
        for name, _ in self.headers:
            lowered = name.lower()
            if not _TOKEN.match(name):
                raise InvalidCredentials(f"{where}: {name!r} is not a header name (letters, digits and - only)")
            if lowered in _RESERVED:
                raise InvalidCredentials(f"{where}: Shotcaller sets the header {name} itself; it cannot be replaced")
            if lowered == "authorization" and (self.bearer_token or self.basic_user or self.basic_password):
                raise InvalidCredentials(
                    f"{where}: an Authorization header and a token or basic auth cannot both be sent; keep one"
                )
            if lowered in seen:
                raise InvalidCredentials(f"{where}: the header {name} is given twice")
            seen.add(lowered)
        for label, value in values:
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                if label not in ("the user", "the password"):  # basic auth is base64 of UTF-8: any text
                    raise InvalidCredentials(f"{where}: {label} has characters HTTP headers cannot carry") from None

    def bound_to(self, url: str, server: str = "") -> Credentials:
        """The same credentials for the server at `url` (its final address), named `server` in messages."""
        return replace(self, url=url, server=server or self.server)


NO_CREDENTIALS = Credentials()


def with_server_credentials(policy: Any, url: str, server: str) -> Any:
    """`policy` (a TransportPolicy) with its credentials bound to the server at `url` when they name no
    server yet (a client built directly from a policy: tests, tools), so they are sent there."""
    credentials = policy.credentials
    if credentials.url:
        return policy
    return replace(policy, credentials=credentials.bound_to(url, credentials.server or server))


def parse_headers(text: str | Iterable[tuple[str, str]] | Iterable[Mapping[str, str]]) -> tuple[tuple[str, str], ...]:
    """Headers from `Name: value` lines, (name, value) pairs or {name, value} dicts; blank entries skipped."""
    pairs: list[tuple[str, str]] = []
    if isinstance(text, str):
        for line in text.splitlines():
            if not line.strip():
                continue
            name, colon, value = line.partition(":")
            if not colon:
                raise InvalidCredentials(f"the header line {line.strip()[:40]!r} has no ':'; write it as Name: value")
            pairs.append((name.strip(), value.strip()))
        return tuple(pairs)
    for item in text:
        if isinstance(item, Mapping):
            name, value = str(item.get("name", "")), str(item.get("value", ""))
        else:
            name, value = str(item[0]), str(item[1])
        if name.strip() or value.strip():
            pairs.append((name.strip(), value.strip()))
    return tuple(pairs)


def from_options(options: Mapping[str, Any], *, url: str = "", server: str = "") -> Credentials:
    """From a server entry's options: bearer_token, basic_user, basic_password, headers, comfy_api_key,
    credentials_where (absent: none of that kind)."""
    return Credentials(
        server=server,
        url=url,
        bearer_token=str(options.get("bearer_token") or ""),
        basic_user=str(options.get("basic_user") or ""),
        basic_password=str(options.get("basic_password") or ""),
        headers=parse_headers(options.get("headers") or ()),
        comfy_api_key=str(options.get("comfy_api_key") or ""),
        where=str(options.get("credentials_where") or PREFERENCES_ENTRY),
    )


def environment_prefix(server: str) -> str:
    """SHOTCALLER_<SERVER>_: the server's name in capitals, every other character an underscore."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", server.upper()).strip("_") + "_"


def environment_names(server: str) -> dict[str, str]:
    """Option name -> the environment variable that sets it for this server."""
    prefix = environment_prefix(server)
    return {option: prefix + suffix for option, suffix in ENV_SUFFIXES.items()}


def from_environment(server: str, environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The credential options the environment sets for `server`, and the variables they came from."""
    options: dict[str, Any] = {}
    used: list[str] = []
    for option, variable in environment_names(server).items():
        value = environ.get(variable, "")
        if not value.strip():
            continue
        options[option] = value if option == "headers" else value.strip()
        used.append(variable)
    if used:
        options["credentials_where"] = "the environment (" + ", ".join(f"${name}" for name in used) + ")"
    return options, used


def environment_name(name: str, url: str) -> str:
    """What names a server's variables: its name, or (unnamed) its host:port, as the session names it."""
    return name.strip() or urllib.parse.urlsplit(url.strip()).netloc or url.strip()


def with_environment(options: Mapping[str, Any], name: str, url: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """A server entry's options with what the environment sets for it (headless runs) on top: a kind
    the environment sets replaces the preferences' value of that kind, the rest is kept."""
    found, _ = from_environment(environment_name(name, url), environ)
    if not found:
        return dict(options)
    merged = {**options, **found}
    if "bearer_token" in found:  # one Authorization: the environment's kind wins over the entry's
        merged.pop("basic_user", None)
        merged.pop("basic_password", None)
    elif "basic_user" in found or "basic_password" in found:
        merged.pop("bearer_token", None)
    return merged
