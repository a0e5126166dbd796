"""One running Shotcaller: the configured backend instances, the scheduler, and which job belongs to which strip.

No bpy here: the Blender layer hands in plain settings, so this is tested without Blender.
A session outlives file loads on purpose: a job still running when another .blend
opens finishes, and its take and record stay on disk.

Backends are built from a list of instance configurations (a studio's pool of GPU
boxes, a cloud proxy...) through a kind -> factory table, so a new backend kind
plugs in with one `register_backend_kind` line. The single `comfyui_url` of the
first preferences still works: it is a pool of one.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from ..backends.base import Backend
from ..backends.credentials import from_options as credentials_from_options
from ..backends.credentials import shown_address
from ..backends.policy import TransportPolicy
from ..backends.urls import check_service_url, server_root
from ..routing.decision_log import DecisionLog
from ..routing.discovery import BackgroundProber
from ..routing.policy import RoutingPolicy
from ..routing.registry import CapabilityRegistry, InstanceConfig, kind_name
from .collector import freeze_long_lived
from .events import JobEvent
from .scheduler import InstanceReport, Scheduler

log = logging.getLogger(__name__)

BUNDLED_TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "templates", "comfyui")

__all__ = [
    "BACKEND_FACTORIES",
    "BackendSettings",
    "InstanceConfig",
    "JobContext",
    "RoutingPolicy",
    "Session",
    "build_backends",
    "build_instances",
    "close_session",
    "current_session",
    "get_session",
    "register_backend_kind",
    "session_for",
]


@dataclass(frozen=True)
class BackendSettings:
    """What the preferences say. Equal settings share a session; changed ones rebuild it when idle."""

    comfyui_url: str = ""  # the first preferences' single server; used only when `instances` is empty
    template_folder: str = ""  # extra ComfyUI templates, for every ComfyUI instance
    jobs_per_server: int = 1  # slots of the `comfyui_url` instance
    online_access: bool = False  # Blender's switch: instances off this machine are skipped without it
    instances: tuple[InstanceConfig, ...] = ()  # the pools, from the preferences' list
    decision_log_path: str = ""  # JSON lines, one per routing decision ("" = no log)
    probe_interval_seconds: float = 30.0  # background discovery; 0 = never probe

    def instance_configs(self) -> list[InstanceConfig]:
        if self.instances:
            return [config for config in self.instances if config.enabled]
        if self.comfyui_url.strip():
            return [InstanceConfig(kind="comfyui", url=self.comfyui_url, slots=self.jobs_per_server)]
        return []


BackendFactory = Callable[[InstanceConfig, BackendSettings], Backend]


def transport_policy(config: InstanceConfig, settings: BackendSettings) -> TransportPolicy:
    """The server's limits and credentials (its entry's options) under Blender's online access; a bad
    limit or an unusable credential raises."""
    server = f"{kind_name(config.kind)} on {config.name}" if config.name else ""
    credentials = credentials_from_options(config.options, url=config.url, server=server)
    return TransportPolicy.from_options(config.options, online_access=settings.online_access, credentials=credentials)


def _comfyui(config: InstanceConfig, settings: BackendSettings) -> Backend:
    from ..backends.comfyui.backend import ComfyUIBackend

    template_dirs = [BUNDLED_TEMPLATES]
    for folder in (settings.template_folder, str(config.options.get("template_folder", ""))):
        if folder.strip():
            template_dirs.append(folder.strip())
    return ComfyUIBackend(
        instance_id=config.name,
        base_url=config.url,
        template_dirs=template_dirs,
        max_concurrent=config.slots,
        policy=transport_policy(config, settings),
    )


def _wan2gp(config: InstanceConfig, settings: BackendSettings) -> Backend:
    from ..backends.wan2gp.backend import Wan2GPBackend

    # One generation at a time whatever the slots say: the server refuses a second one.
    return Wan2GPBackend(
        config.name, config.url, vram_gb=config.vram_gb or None, policy=transport_policy(config, settings)
    )


def _litellm(config: InstanceConfig, settings: BackendSettings) -> Backend:
    from ..backends.litellm.backend import from_instance_config

    return from_instance_config(config, settings)


# kind -> factory. Another kind plugs in with one line: register_backend_kind("kind", factory).
BACKEND_FACTORIES: dict[str, BackendFactory] = {"comfyui": _comfyui, "litellm": _litellm, "wan2gp": _wan2gp}


def register_backend_kind(kind: str, factory: BackendFactory) -> None:
    BACKEND_FACTORIES[kind] = factory


def _instance_name(config: InstanceConfig, taken: set[str]) -> str:
    base = config.name.strip() or urlsplit(config.url).netloc or config.url or config.kind
    name, number = base, 2
    while name in taken:  # two unnamed instances on one host stay apart
        name, number = f"{base}-{number}", number + 1
    return name


def build_instances(settings: BackendSettings) -> tuple[list[tuple[Backend, InstanceConfig]], list[str]]:
    """Every instance that could be built, and a sentence for each that could not.

    Raises the first problem when nothing at all could be built, so a single
    misconfigured server is reported exactly as before (UnsafeURL names the fix).
    """
    built: list[tuple[Backend, InstanceConfig]] = []
    problems: list[str] = []
    first_error: Exception | None = None
    taken: set[str] = set()
    for config in settings.instance_configs():
        service = kind_name(config.kind)
        try:
            factory = BACKEND_FACTORIES.get(config.kind)
            if factory is None:
                known = ", ".join(sorted(BACKEND_FACTORIES))
                raise ValueError(f"unknown backend kind '{config.kind}' (known: {known})")
            url = config.url
            if url:
                url, note = server_root(url, config.kind)  # a browser's or an endpoint's address: its root
                if note:
                    problems.append(f"{service} {config.name or shown_address(config.url)}: {note}")
                url = check_service_url(url, online_access=settings.online_access, service=service)
            config = replace(config, url=url, name=_instance_name(config, taken), slots=max(1, config.slots))
            built.append((factory(config, settings), config))
            taken.add(config.name)
        except Exception as exc:  # one broken instance (bad URL, unknown kind, a factory's bug) spares the rest
            first_error = first_error or exc
            problems.append(f"{service} {config.name or shown_address(config.url)}: {exc}")
    if not built and first_error is not None:
        raise first_error
    return built, problems


def build_backends(settings: BackendSettings) -> list[Backend]:
    return [backend for backend, _ in build_instances(settings)[0]]


@dataclass
class JobContext:
    """Where a job's result goes: found again by scene name and shot id, never by strip name."""

    scene_name: str
    shot_id: str
    strip_name: str
    quality: str
    submitted_at: float = field(default_factory=time.time)
    bypass_cache: bool = False  # Redo and Variation: a new take, never a cached copy
    end_shown: bool = False  # the main thread showed its end itself (cancel-all): its last event changes nothing


class Session:
    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        entries, self._build_problems = build_instances(settings)
        # Not a warning: every submission hands these to the user (the operator's report, the batch's
        # output), and some are notes about a server that is used (its address reduced to its root).
        for problem in self._build_problems:
            log.info("setting up the backends: %s", problem)
        self.registry = CapabilityRegistry(entries)
        self._logs: dict[str, DecisionLog] = {}
        self._logs_lock = threading.Lock()
        decision_log = self.decision_log_at(settings.decision_log_path) if settings.decision_log_path else None
        self.scheduler = Scheduler(registry=self.registry, decision_log=decision_log)
        self.prober = BackgroundProber(
            self.registry,
            self.scheduler.health,
            interval=settings.probe_interval_seconds,
            on_probed=self.scheduler.notify_changed,
        )
        if settings.probe_interval_seconds > 0:
            self.prober.start()  # its own thread: Blender's main thread never waits on a server
        self.jobs: dict[str, JobContext] = {}

    @property
    def events(self) -> queue.Queue[JobEvent]:
        return self.scheduler.events

    @property
    def policy(self) -> RoutingPolicy:
        return self.scheduler.policy

    def set_policy(self, policy: RoutingPolicy) -> None:
        """The project's routing wishes for jobs submitted from now on (queued jobs keep theirs)."""
        self.scheduler.policy = policy

    def set_decision_log(self, path: str) -> None:
        """The log for jobs submitted without their own (see `decision_log_at` for per-project logs)."""
        self.scheduler.decision_log = self.decision_log_at(path) if path else None

    def decision_log_at(self, path: str) -> DecisionLog:
        """One log object per file, so every job logging to a project's file shares its lock."""
        with self._logs_lock:
            return self._logs.setdefault(path, DecisionLog(path))

    def fleet_status(self) -> list[InstanceReport]:
        return self.scheduler.fleet_status()

    def problems(self) -> list[str]:
        """For the preferences: instances that could not be built, broken templates, failed probes."""
        found = list(self._build_problems)
        for entry in self.registry.instances:
            name = f"{kind_name(entry.config.kind)} on {entry.instance_id}"
            found += [f"{name}: {error}" for error in getattr(entry.backend, "template_errors", [])]
            probe_error = self.registry.discovery(entry.instance_id).error
            if probe_error:
                found.append(f"{name}: {probe_error}")
        return found

    def has_work(self) -> bool:
        """Jobs still running, or events the main thread has not applied yet."""
        return self.scheduler.active_count > 0 or not self.scheduler.events.empty()

    def close(self) -> None:
        self.prober.stop(timeout=0.5)
        self.scheduler.shutdown(wait=False)


_lock = threading.Lock()
_current: Session | None = None


def session_for(settings: BackendSettings) -> Session | None:
    """The session get_session would return without building one, or None (it would build one)."""
    current = _current
    return current if current is not None and (current.settings == settings or current.has_work()) else None


def get_session(settings: BackendSettings) -> Session:
    """The running session, rebuilt when the settings changed and nothing is in flight."""
    global _current
    with _lock:
        current = session_for(settings)
        if current is not None:
            return current
        if _current is not None:
            _current.close()
        freeze_long_lived()  # before the first jobs' objects exist: see collector.py
        _current = Session(settings)
        return _current


def current_session() -> Session | None:
    return _current


def close_session() -> None:
    global _current
    with _lock:
        if _current is not None:
            _current.close()
        _current = None
