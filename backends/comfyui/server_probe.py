"""What a ComfyUI server says of itself, for routing and the preferences' Test: version, device,
memory and load, from /system_stats and /queue. Any field it leaves out or garbles reads as zero."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..numbers import whole
from .client import ComfyUIClient


@dataclass(frozen=True)
class ServerProbe:
    """What routing needs to know about a server: is it there, how much memory, how busy.

    Memory is in bytes, of the primary device (the first one /system_stats lists; on a
    `--cpu` server that is system RAM). `queue_running` and `queue_pending` count prompts
    of every client, from /queue.
    """

    url: str
    version: str
    device_name: str
    device_type: str
    vram_total: int
    vram_free: int
    ram_total: int
    ram_free: int
    queue_running: int = 0
    queue_pending: int = 0

    @property
    def queue_length(self) -> int:
        return self.queue_running + self.queue_pending


def probe_server(client: ComfyUIClient, base_url: str) -> ServerProbe:
    """/system_stats (version, device, memory) and /queue (load). Raises if the server is not there."""
    stats = client.system_stats()
    system = stats.get("system") if isinstance(stats.get("system"), dict) else {}
    devices = stats.get("devices") if isinstance(stats.get("devices"), list) else []
    primary = devices[0] if devices and isinstance(devices[0], dict) else {}
    queue = client.queue()
    return ServerProbe(
        url=base_url,
        version=str((system or {}).get("comfyui_version", "")),
        device_name=str(primary.get("name", "")),
        device_type=str(primary.get("type", "")),
        vram_total=_bytes(primary.get("vram_total")),
        vram_free=_bytes(primary.get("vram_free")),
        ram_total=_bytes((system or {}).get("ram_total")),
        ram_free=_bytes((system or {}).get("ram_free")),
        queue_running=_count(queue.get("queue_running")),
        queue_pending=_count(queue.get("queue_pending")),
    )


def _bytes(value: Any) -> int:
    return max(0, whole(value) or 0)


def _count(items: Any) -> int:
    return len(items) if isinstance(items, list) else 0
