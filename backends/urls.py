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
