"""Discovery: asking each instance what it has (VRAM, queue, models), on a background thread.

A kind registers a discoverer (`DISCOVERERS[kind] = fn`); kinds without one are
asked through a duck-typed `probe()` if they have it. When the backend says
nothing about VRAM and runs on this machine, NVML answers (if `pynvml` is
installed); otherwise the figure configured for the instance is used (see the
registry). Failures to answer count against the instance's circuit breaker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..backends.base import Backend, BackendError, BackendUnreachable, CredentialsRefused, MissingResource
from .health import CircuitBreakers
from .registry import CapabilityRegistry, Discovery, Locality, RegisteredInstance

log = logging.getLogger(__name__)

GB = 1024**3

Discoverer = Callable[[Backend], Discovery]


def discover_comfyui(backend: Any) -> Discovery:
    """`/system_stats` for memory, `/queue` for depth, `/object_info` (cached) for each template's models."""
    probe = backend.probe()
    depth = _queue_depth(probe)
    if depth is None:  # an older probe without queue counts
        queue = backend.client.queue()
        depth = sum(len(queue.get(key) or []) for key in ("queue_running", "queue_pending"))
    missing: dict[str, str] = {}
    for name, template in backend.templates.items():
        try:
            backend.preflight(template)
        except MissingResource as exc:
            missing[name] = exc.message
    has_gpu = probe.device_type not in ("", "cpu")
    return Discovery(
        vram_total_gb=probe.vram_total / GB if has_gpu else None,
        vram_free_gb=probe.vram_free / GB if has_gpu else None,
        vram_source="reported by ComfyUI" if has_gpu else "",
        device=probe.device_name,
        queue_depth=depth,
        missing=missing,
    )


def _queue_depth(probe: Any) -> int | None:
    for name in ("queue_length", "queue_depth"):
        value = getattr(probe, name, None)
        if isinstance(value, int):
            return value
    return None


def discover_generic(backend: Any) -> Discovery:
    """Any backend with a `probe()` returning vram_total/vram_free (bytes) and maybe queue_length."""
    probe = getattr(backend, "probe", None)
    if probe is None:
        return Discovery()
    found = probe()
    total, free = getattr(found, "vram_total", 0) or 0, getattr(found, "vram_free", 0) or 0
    depth = _queue_depth(found)
    return Discovery(
        vram_total_gb=total / GB if total else None,
        vram_free_gb=free / GB if free else None,
        vram_source=f"reported by {backend.display_name}" if free else "",
        device=str(getattr(found, "device_name", "") or ""),
        queue_depth=depth,
    )


def discover_wan2gp(backend: Any) -> Discovery:
    """The handshake, then the model list: models the server has downloaded become offers, built-in
    tiers it does not know are missing. No memory figure: the MCP server reports none (NVML or the
    configured figure answer instead)."""
    backend.probe()
    found = backend.discover()
    return Discovery(missing=dict(found.missing))


def discover_litellm(backend: Any) -> Discovery:
    """The proxy's model list: models the user's patterns allow become offers; models named in the
    settings that the proxy does not list for this key are missing."""
    backend.client.liveliness()
    found = backend.discover()
    return Discovery(missing=dict(found.missing))


DISCOVERERS: dict[str, Discoverer] = {
    "comfyui": discover_comfyui,
    "wan2gp": discover_wan2gp,
    "litellm": discover_litellm,
}

_nvml: Any = None
_nvml_checked = False
_nvml_lock = threading.Lock()


def nvml_memory() -> tuple[float, float] | None:
    """(total GB, free GB) of this machine's first GPU, or None without pynvml or a GPU."""
    global _nvml, _nvml_checked
    with _nvml_lock:
        if not _nvml_checked:
            _nvml_checked = True
            try:
                import pynvml  # optional: not bundled, used when the user has it

                pynvml.nvmlInit()
                _nvml = pynvml
            except Exception:  # absent, no driver, no GPU: all mean "NVML cannot tell"
                _nvml = None
        if _nvml is None:
            return None
        try:
            info = _nvml.nvmlDeviceGetMemoryInfo(_nvml.nvmlDeviceGetHandleByIndex(0))
        except Exception:
            return None
        return info.total / GB, info.free / GB


def discover(entry: RegisteredInstance, clock: Callable[[], float] = time.monotonic) -> Discovery:
    """One instance's discovery; raises the backend's error when it does not answer."""
    finder = DISCOVERERS.get(entry.config.kind, discover_generic)
    found = finder(entry.backend)
    if found.vram_free_gb is None and entry.config.locality is Locality.THIS_MACHINE:
        memory = nvml_memory()
        if memory is not None:
            total, free = memory
            found = Discovery(total, free, "NVML", found.device, found.queue_depth, found.missing)
    return Discovery(
        found.vram_total_gb,
        found.vram_free_gb,
        found.vram_source,
        found.device,
        found.queue_depth,
        found.missing,
        "",
        clock(),
    )


def probe_instance(
    registry: CapabilityRegistry,
    health: CircuitBreakers | None,
    entry: RegisteredInstance,
    clock: Callable[[], float] = time.monotonic,
) -> Discovery:
    """Probe one instance and record what was found (or why nothing was) in the registry and breakers."""
    iid = entry.instance_id
    try:
        registry.refresh_offers(iid)  # a template folder may have changed
        found = discover(entry, clock)
        registry.refresh_offers(iid)  # and the server may have told of new models
    except BackendError as exc:
        previous = registry.discovery(iid)
        found = Discovery(
            previous.vram_total_gb,
            previous.vram_free_gb,
            previous.vram_source,
            previous.device,
            None,
            previous.missing,
            exc.message,
            clock(),
        )
        if isinstance(exc, CredentialsRefused):
            # It answered: the breaker stays closed, and its offers say why they are not used.
            found = replace(found, missing={offer.name: exc.message for offer in entry.backend.offers()})
        elif health is not None:
            health.record_failure(iid, exc.message, decisive=isinstance(exc, BackendUnreachable))
    except Exception as exc:  # a bug in one discoverer must not stop the others being probed
        log.exception("probing %s failed", entry.backend.display_name)
        found = Discovery(error=f"probe failed: {exc!r}", probed_at=clock())
    else:
        if health is not None:
            health.record_probe_success(iid)
    registry.record_discovery(iid, found)
    return found


class BackgroundProber:
    """Probes every instance every `interval` seconds on its own daemon thread (never Blender's)."""

    def __init__(
        self,
        registry: CapabilityRegistry,
        health: CircuitBreakers | None = None,
        *,
        interval: float = 15.0,
        on_probed: Callable[[], None] | None = None,
    ) -> None:
        self.registry = registry
        self.health = health
        self.interval = interval
        self.on_probed = on_probed  # the scheduler re-plans: an instance may have come back
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._in_flight: set[str] = set()
        self.rounds = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="shotcaller-prober", daemon=True)
            self._thread.start()

    def probe_now(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def probe_all(self, wait_seconds: float = 10.0) -> None:
        """One round: every instance at once, so one dead server's timeout does not delay the rest.

        Daemon threads, not an executor: a probe stuck on a black-holed address must never keep
        Blender from exiting. A probe still running from an earlier round is not started twice.
        """
        threads = []
        for entry in self.registry.instances:
            if not entry.config.enabled or entry.instance_id in self._in_flight:
                continue
            self._in_flight.add(entry.instance_id)
            thread = threading.Thread(
                target=self._probe_one, args=(entry,), daemon=True, name=f"shotcaller-probe-{entry.instance_id}"
            )
            thread.start()
            threads.append(thread)
        deadline = time.monotonic() + wait_seconds
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.rounds += 1
        if self.on_probed is not None:
            self.on_probed()

    def _probe_one(self, entry: RegisteredInstance) -> None:
        try:
            probe_instance(self.registry, self.health, entry)
        finally:
            self._in_flight.discard(entry.instance_id)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.probe_all()
            except Exception:
                log.exception("probe round failed")
            self._wake.wait(self.interval)
            self._wake.clear()
