"""The address policy: which addresses Shotcaller may talk to (safe by default).

With Blender's online access off, only this machine: `localhost` itself, 127.0.0.0/8 and ::1.
The check is made on the address a connection really goes to (see `connect`), for every URL:
the configured server, every redirect hop, and every URL a server hands back. A name that is not
`localhost` or an address literal is refused without a DNS lookup (`evil.localhost` too: a
resolver may send it anywhere).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    """The URL is malformed, or leaves this machine while online access is off."""


ONLINE_ACCESS_HINT = "allow it in Preferences > System > Network (Allow Online Access), or use a loopback address"


def is_loopback_ip(text: str) -> bool:
    """True for an address literal in 127.0.0.0/8 or ::1 (also as an IPv4-mapped IPv6 address)."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address literal. Other names are not looked up."""
    host = host.strip("[]").lower().rstrip(".")
    return host == "localhost" or is_loopback_ip(host)


def check_service_url(url: str, *, online_access: bool, service: str = "the service") -> str:
    """The URL without a trailing slash, or UnsafeURL saying what is wrong and what to do."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL(
            f"the URL for {service} ('{url}') is not an http(s) address; "
            "write it like http://127.0.0.1:8188 in Shotcaller's preferences"
        )
    if not online_access and not is_loopback_host(parts.hostname):
        raise UnsafeURL(
            f"{service} at {parts.hostname} is not on this machine and Blender's online access is off; "
            + ONLINE_ACCESS_HINT
        )
    return url.rstrip("/")


def connect(
    address: tuple[str, int], timeout: float | None, *, online_access: bool, source_address: object = None
) -> socket.socket:
    """A connected socket to `address`, or UnsafeURL when it would leave the machine without online access.

    Without online access the host must be `localhost` (resolved by the machine itself) or a loopback
    literal, and every address it resolves to must be loopback; only then does a packet go out.
    """
    host, port = address
    if online_access:
        return socket.create_connection(address, timeout, source_address)  # type: ignore[arg-type]
    bare = host.strip("[]").lower().rstrip(".")
    if bare != "localhost" and not is_loopback_ip(bare):
        raise UnsafeURL(f"{host} is not on this machine and Blender's online access is off")
    flags = 0 if bare == "localhost" else socket.AI_NUMERICHOST
    infos = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM, flags=flags)
    error: Exception | None = None
    for family, kind, proto, _name, sockaddr in infos:
        if not is_loopback_ip(str(sockaddr[0])):
            error = UnsafeURL(f"{host} resolves to {sockaddr[0]}, which is not this machine")
            continue
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError(f"{host} has no address")


# Kinds whose clients add every endpoint path themselves, so their address is the server's root.
ROOT_ONLY_KINDS = {"comfyui": "ComfyUI", "litellm": "LiteLLM"}


def server_root(url: str, kind: str) -> tuple[str, str]:
    """(the address Shotcaller uses, a sentence saying what was dropped, or "").

    A browser's address (`http://host:8188/#/`) or an endpoint (`http://host:8188/prompt`) is reduced
    to the server's root for ComfyUI and LiteLLM; Wan2GP's address is its MCP endpoint (`.../mcp/`),
    so only a query or fragment is dropped there. Credentials in the address are refused: keys
    belong in the preferences' key field, never in a URL that logs and messages repeat.
    """
    url = (url or "").strip()
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url, ""  # check_service_url explains what is wrong with it
    if parts.username or parts.password:
        raise UnsafeURL(
            f"the address '{parts.scheme}://{parts.hostname}...' has a user name or password in it; "
            "remove them and put them in the server's entry (Access: User and Password, or its API key)"
        )
    base = f"{parts.scheme}://{parts.netloc}"
    extras = (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")
    if kind in ROOT_ONLY_KINDS:
        kept, dropped = base, parts.path.rstrip("/") + extras
        why = f"{ROOT_ONLY_KINDS[kind]} is reached at its root address"
    else:
        kept, dropped = base + parts.path, extras
        why = "a query or fragment is not part of a server's address"
    if not dropped:
        return kept, ""
    return kept, f"'{dropped}' was dropped from {url} ({why}): Shotcaller uses {kept}"
