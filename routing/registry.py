"""The capability registry: every configured backend instance, what it offers, and what probing found.

The router never talks to a server. It reads `InstanceView`s: frozen snapshots
built here from each instance's configuration (slots, costs, locality, a VRAM
figure), its offers (read once, re-read on every probe) and the last discovery
(free and total VRAM, the server's own queue, models it lacks). Probing happens
on a background thread (`discovery.BackgroundProber`), never on Blender's.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from ..backends.base import Backend, Offer
from ..backends.urls import is_loopback_host

KIND_NAMES = {"comfyui": "ComfyUI", "wan2gp": "Wan2GP", "litellm": "LiteLLM"}


def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind)


class Locality(StrEnum):
    THIS_MACHINE = "this machine"
    LOCAL_NETWORK = "local network"  # the studio's own boxes: not cloud, but NVML cannot see them
    CLOUD = "cloud"


def locality_from_url(url: str) -> Locality:
    """Loopback is this machine; private addresses and bare or .local host names are the local network."""
    host = urlsplit(url).hostname if url else None
    if not host or is_loopback_host(host):
        return Locality.THIS_MACHINE  # no URL: an in-process backend
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return Locality.LOCAL_NETWORK if "." not in host or host.endswith((".local", ".lan")) else Locality.CLOUD
    return Locality.LOCAL_NETWORK if address.is_private or address.is_link_local else Locality.CLOUD


@dataclass(frozen=True)
class InstanceConfig:
    """One backend instance as the user configured it (a row of the preferences' pool list)."""

    kind: str  # "comfyui", "wan2gp", "litellm": a key of session.BACKEND_FACTORIES
    name: str = ""  # unique instance id shown to the user; derived from the URL when empty
    url: str = ""
    slots: int = 1  # jobs it runs at once
    rate_limit_per_minute: int = 0  # job starts per minute; 0 = no limit
    vram_gb: float = 0.0  # when set, the VRAM routing plans with, whatever the server reports
    cost_per_second: float = 0.0
    cost_per_shot: float = 0.0
    is_local: bool | None = None  # None: decided from the URL
    enabled: bool = True
    # kind-specific (template folder, API key...): kept out of repr so keys never reach a log
    options: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        # Refused where it is entered (preferences, --server, code): 0 slots would never run a job
        # and divide by zero in the scorers; negative limits and costs mean nothing.
        server = self.name or self.url or self.kind
        if isinstance(self.slots, bool) or not isinstance(self.slots, int) or self.slots < 1:
            raise ValueError(f"server {server}: slots must be 1 or more, not {self.slots!r}")
        for name in ("rate_limit_per_minute", "vram_gb", "cost_per_second", "cost_per_shot"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value >= 0 or value == float("inf"):
                raise ValueError(f"server {server}: {name} must be 0 or more, not {value!r}")

    @property
    def locality(self) -> Locality:
        from_url = locality_from_url(self.url)
        if self.is_local is None:
            return from_url
        if not self.is_local:
            return Locality.CLOUD
        return Locality.THIS_MACHINE if from_url is Locality.THIS_MACHINE else Locality.LOCAL_NETWORK


@dataclass(frozen=True)
class Discovery:
    """What one probe of an instance found. Missing values mean the backend did not say."""

    vram_total_gb: float | None = None
    vram_free_gb: float | None = None
    vram_source: str = ""  # "reported by ComfyUI", "NVML": said in explanations
    device: str = ""
    queue_depth: int | None = None  # everything queued or running on the server, ours included
    missing: Mapping[str, str] = field(default_factory=dict)  # offer name -> what is missing
    error: str = ""
    probed_at: float = 0.0


@dataclass(frozen=True, slots=True)
class InstanceView:
    """One instance as the router sees it at one moment. Frozen: safe to share between threads."""

    backend: Backend
    instance_id: str
    kind: str
    offers: tuple[Offer, ...]
    locality: Locality = Locality.THIS_MACHINE
    slots: int = 1
    vram_free_gb: float | None = None
    vram_source: str = ""
    cost_per_second: float = 0.0
    cost_per_shot: float = 0.0
    foreign_queue: int = 0  # jobs on that server that are not ours
    missing: Mapping[str, str] = field(default_factory=dict)
    oom_ceilings: Mapping[str, float] = field(default_factory=dict)  # offer -> work units that ran out of memory
    oom_gb: float | None = None  # smallest estimated need that ran out of memory there lately, any offer

    @property
    def name(self) -> str:
        return f"{kind_name(self.kind)} on {self.instance_id}"

    @property
    def is_local(self) -> bool:
        return self.locality is not Locality.CLOUD


def view_of(backend: Backend, **overrides: Any) -> InstanceView:
    """A view straight from a backend (tests, and schedulers built from bare backends)."""
    fields: dict[str, Any] = {
        "backend": backend,
        "instance_id": backend.instance_id,
        "kind": backend.kind,
        "offers": tuple(backend.offers()),
        "slots": max(1, backend.max_concurrent),
    }
    fields.update(overrides)
    return InstanceView(**fields)


@dataclass(frozen=True)
class RegisteredInstance:
    backend: Backend
    config: InstanceConfig

    @property
    def instance_id(self) -> str:
        return self.backend.instance_id


@dataclass(frozen=True)
class InstanceStatus:
    """For the preferences' backends panel: one line per instance."""

    instance_id: str
    name: str
    kind: str
    url: str
    locality: str
    slots: int
    offers: tuple[str, ...]
    vram_free_gb: float | None
    vram_total_gb: float | None
    vram_source: str
    queue_depth: int | None
    probe_error: str
    probed_at: float


def config_for(backend: Backend) -> InstanceConfig:
    """The configuration a bare backend implies: its own slots, locality from its URL if it has one."""
    url = str(getattr(backend, "base_url", "") or "")
    return InstanceConfig(kind=backend.kind, name=backend.instance_id, url=url, slots=max(1, backend.max_concurrent))


class CapabilityRegistry:
    """Thread-safe. Writers: the prober and the scheduler (OOM, missing models). Readers: the router via views."""

    def __init__(
        self,
        instances: Sequence[tuple[Backend, InstanceConfig]],
        *,
        clock: Callable[[], float] = time.monotonic,
        missing_ttl: float = 120.0,
        oom_ttl: float = 900.0,
    ) -> None:
        self.instances = tuple(RegisteredInstance(backend, config) for backend, config in instances)
        self._by_id = {entry.instance_id: entry for entry in self.instances}
        self._clock = clock
        self.missing_ttl = missing_ttl  # the user may install the model: look again after a while
        self.oom_ttl = oom_ttl  # free VRAM changes when other programs close
        self._lock = threading.Lock()
        self._offers: dict[str, tuple[Offer, ...]] = {}
        self._discovery: dict[str, Discovery] = {}
        self._missing: dict[str, dict[str, tuple[str, float]]] = {}
        self._oom: dict[str, dict[str, tuple[float, float]]] = {}
        self._oom_gb: dict[str, tuple[float, float]] = {}
        for entry in self.instances:
            self.refresh_offers(entry.instance_id)

    @classmethod
    def from_backends(cls, backends: Sequence[Backend], **kwargs: Any) -> CapabilityRegistry:
        return cls([(backend, config_for(backend)) for backend in backends], **kwargs)

    @property
    def backends(self) -> list[Backend]:
        return [entry.backend for entry in self.instances]

    def get(self, instance_id: str) -> RegisteredInstance | None:
        return self._by_id.get(instance_id)

    def refresh_offers(self, instance_id: str) -> None:
        entry = self._by_id[instance_id]
        offers = tuple(entry.backend.offers())
        with self._lock:
            self._offers[instance_id] = offers

    def record_discovery(self, instance_id: str, discovery: Discovery) -> None:
        with self._lock:
            self._discovery[instance_id] = discovery

    def discovery(self, instance_id: str) -> Discovery:
        with self._lock:
            return self._discovery.get(instance_id) or Discovery()

    def mark_missing(self, instance_id: str, offer_name: str, reason: str) -> None:
        with self._lock:
            self._missing.setdefault(instance_id, {})[offer_name] = (reason, self._clock())

    def record_oom(self, instance_id: str, offer_name: str, units: float, need_gb: float = 0.0) -> None:
        """Remember what ran out of memory there: that offer at that size or bigger, and (when the offer
        estimates its need) anything estimated to need as much, whatever the model, for a while."""
        now = self._clock()
        with self._lock:
            ceilings = self._oom.setdefault(instance_id, {})
            old = ceilings.get(offer_name)
            ceiling = units if old is None or now - old[1] > self.oom_ttl else min(units, old[0])
            ceilings[offer_name] = (ceiling, now)
            if need_gb > 0:
                old_gb = self._oom_gb.get(instance_id)
                if old_gb is not None and now - old_gb[1] <= self.oom_ttl:
                    need_gb = min(need_gb, old_gb[0])
                self._oom_gb[instance_id] = (need_gb, now)

    def views(self, own_in_flight: Mapping[str, int] | None = None) -> list[InstanceView]:
        """Snapshots of every enabled instance. `own_in_flight` keeps our jobs out of the foreign queue."""
        now = self._clock()
        own = own_in_flight or {}
        with self._lock:
            return [
                self._view(entry, now, own.get(entry.instance_id, 0))
                for entry in self.instances
                if entry.config.enabled
            ]

    def _view(self, entry: RegisteredInstance, now: float, own: int) -> InstanceView:
        config, iid = entry.config, entry.instance_id
        found = self._discovery.get(iid) or Discovery()
        missing = {
            offer: reason for offer, (reason, at) in self._missing.get(iid, {}).items() if now - at < self.missing_ttl
        }
        missing.update(found.missing)
        ceilings = {offer: units for offer, (units, at) in self._oom.get(iid, {}).items() if now - at < self.oom_ttl}
        oom_gb = self._oom_gb.get(iid)
        vram, source = found.vram_free_gb, found.vram_source
        if config.vram_gb > 0:
            vram, source = config.vram_gb, "configured"
        return InstanceView(
            backend=entry.backend,
            instance_id=iid,
            kind=config.kind,
            offers=self._offers.get(iid, ()),
            locality=config.locality,
            slots=max(1, config.slots),
            vram_free_gb=vram,
            vram_source=source,
            cost_per_second=config.cost_per_second,
            cost_per_shot=config.cost_per_shot,
            foreign_queue=max(0, (found.queue_depth or 0) - own),
            missing=missing,
            oom_ceilings=ceilings,
            oom_gb=oom_gb[0] if oom_gb is not None and now - oom_gb[1] < self.oom_ttl else None,
        )

    def status(self) -> list[InstanceStatus]:
        with self._lock:
            rows = []
            for entry in self.instances:
                found = self._discovery.get(entry.instance_id) or Discovery()
                config = entry.config
                rows.append(
                    InstanceStatus(
                        instance_id=entry.instance_id,
                        name=f"{kind_name(config.kind)} on {entry.instance_id}",
                        kind=config.kind,
                        url=config.url,
                        locality=config.locality.value,
                        slots=max(1, config.slots),
                        offers=tuple(o.label or o.name for o in self._offers.get(entry.instance_id, ())),
                        vram_free_gb=config.vram_gb or found.vram_free_gb,
                        vram_total_gb=config.vram_gb or found.vram_total_gb,
                        vram_source="configured" if config.vram_gb > 0 else found.vram_source,
                        queue_depth=found.queue_depth,
                        probe_error=found.error,
                        probed_at=found.probed_at,
                    )
                )
            return rows
