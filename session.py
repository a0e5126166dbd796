"""One running Shotcaller: the configured backends, the scheduler, and which job belongs to which strip.

No bpy here: the Blender layer hands in plain settings, so this is tested without Blender.
A session outlives file loads on purpose: a job still running when another .blend
opens finishes, and its take and record stay on disk.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .backends.base import Backend
from .backends.urls import check_service_url
from .jobs.scheduler import Scheduler

BUNDLED_TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates", "comfyui")


@dataclass(frozen=True)
class BackendSettings:
    comfyui_url: str
    template_folder: str = ""
    jobs_per_server: int = 1
    online_access: bool = False


@dataclass
class JobContext:
    """Where a job's result goes: found again by scene name and shot id, never by strip name."""

    scene_name: str
    shot_id: str
    strip_name: str
    quality: str
    submitted_at: float = field(default_factory=time.time)


def build_backends(settings: BackendSettings) -> list[Backend]:
    from .backends.comfyui.backend import ComfyUIBackend

    url = check_service_url(settings.comfyui_url, online_access=settings.online_access, service="ComfyUI")
    template_dirs = [BUNDLED_TEMPLATES]
    if settings.template_folder.strip():
        template_dirs.append(settings.template_folder.strip())
    parts = urlsplit(url)
    instance_id = parts.netloc or url
    return [
        ComfyUIBackend(
            instance_id=instance_id,
            base_url=url,
            template_dirs=template_dirs,
            max_concurrent=settings.jobs_per_server,
        )
    ]


class Session:
    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        self.scheduler = Scheduler(build_backends(settings))
        self.jobs: dict[str, JobContext] = {}

    @property
    def events(self):  # type: ignore[no-untyped-def]
        return self.scheduler.events

    def has_work(self) -> bool:
        """Jobs still running, or events the main thread has not applied yet."""
        return self.scheduler.active_count > 0 or not self.scheduler.events.empty()

    def close(self) -> None:
        self.scheduler.shutdown(wait=False)


_lock = threading.Lock()
_current: Session | None = None


def get_session(settings: BackendSettings) -> Session:
    """The running session, rebuilt when the settings changed and nothing is in flight."""
    global _current
    with _lock:
        if _current is not None and (_current.settings == settings or _current.has_work()):
            return _current
        if _current is not None:
            _current.close()
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
