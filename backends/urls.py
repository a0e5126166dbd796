"""Service URLs: checked before anything talks to them (safe by default)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    """The URL is malformed, or leaves this machine while online access is off."""


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
            "allow it in Preferences > System > Network, or use a loopback address"
        )
    return url.rstrip("/")


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
            "remove them (put a key in the server's API key field)"
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
