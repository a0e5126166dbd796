"""The preferences' Test button: check one server in the background and say what it found.

The press reads the server's entry and returns: a worker thread builds its client (importing the
backend clients, the session's factories and pydantic, a quarter of a second at the first press) and
tests it. In the UI the finding is applied by this module's own light timer (`follow_tests`): not the
pump, which imports the whole core, nor jobs.background's pool, whose import (queue, concurrent.futures)
costs the main thread milliseconds too. Headless, language.run_in_background: the pump or the batch's
loop drains it (timers never fire there).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import bpy
from bpy.props import IntProperty

from ..addon import lazy
from ..settings.preferences import ADDON_PACKAGE, _instance_config

if TYPE_CHECKING:
    from ..backends.server_check import ServerCheck

log = logging.getLogger(__name__)

WORKER_PAUSE_SECONDS = 0.01
FOLLOW_SECONDS = 0.1  # how often the UI timer looks for a finished test

Done = Callable[[Any, BaseException | None], None]
_finished: list[tuple[Done, Any, BaseException | None]] = []  # appended by the workers (atomic), read by the timer
_running = 0  # tests started and not applied yet: main thread only


def _prefs(context: bpy.types.Context):  # type: ignore[no-untyped-def]
    addon = context.preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon is not None else None


def _redraw_preferences() -> None:
    window_manager = getattr(bpy.context, "window_manager", None)
    for window in getattr(window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "PREFERENCES":
                area.tag_redraw()


class PREFERENCES_OT_shotcaller_instance_test(bpy.types.Operator):
    """Check this server in the background: is it there, what version, how much memory, what it can run"""

    bl_idname = "preferences.shotcaller_instance_test"
    bl_label = "Test Server"
    bl_options = {"INTERNAL"}

    index: IntProperty(name="Server", default=0, min=0)

    def execute(self, context: bpy.types.Context) -> set[str]:
        # Nothing of the core is imported here: the worker thread imports the backend clients, the
        # session's factories and pydantic (a quarter of a second on the main thread at the first press).
        prefs = _prefs(context)
        if prefs is None or not 0 <= self.index < len(prefs.instances):
            self.report({"ERROR"}, "There is no such server in the list.")
            return {"CANCELLED"}
        item = prefs.instances[self.index]
        entry = _snapshot(item)  # read here: bpy is read on the main thread only
        if entry.template_folder:
            entry.template_folder = bpy.path.abspath(entry.template_folder)
        template_folder = bpy.path.abspath(prefs.template_folder) if prefs.template_folder else ""
        online_access = bool(bpy.app.online_access)
        token = uuid.uuid4().hex  # finds the same list entry again even if the list changed meanwhile
        item.test_token = token
        item.test_state, item.test_report = "RUNNING", f"Testing {item.url.strip() or item.kind}..."

        def work() -> tuple[str, list[str], ServerCheck | None]:
            # A new thread runs at once and keeps the interpreter lock for up to its switch interval
            # (5 ms), which this operator would wait for to return: it lets the operator finish first.
            time.sleep(WORKER_PAUSE_SECONDS)
            from ..backends.server_check import check_server
            from ..jobs.session import BackendSettings, build_instances

            settings = BackendSettings(
                template_folder=template_folder,
                online_access=online_access,
                instances=(_instance_config(entry),),  # type: ignore[arg-type]
                probe_interval_seconds=0,
            )
            try:
                built, notes = build_instances(settings)
            except Exception as exc:  # a refused address (not loopback while offline, malformed): that is the finding
                return str(exc), [], None
            return "", notes, check_server(built[0][0])

        def done(result: tuple[str, list[str], ServerCheck | None] | None, error: BaseException | None) -> None:
            prefs_now = _prefs(bpy.context)
            target = next((i for i in getattr(prefs_now, "instances", ()) if i.test_token == token), None)
            if target is None:
                return  # removed from the list while it was being tested
            refused, notes, found = result if result is not None else ("", [], None)
            if refused:
                target.test_state, target.test_report = "FAILED", refused
            elif error is not None or found is None:
                target.test_state, target.test_report = "FAILED", f"The test itself failed: {error}"
            else:
                target.test_state = "OK" if found.reachable else "REFUSED" if found.refused else "FAILED"
                target.test_report = "\n".join(notes + list(found.lines))
            _redraw_preferences()

        _in_background(work, done)
        return {"FINISHED"}


def _snapshot(struct: Any) -> SimpleNamespace:
    """A plain copy of a property group's values, with the groups and collections it holds, for
    _instance_config to read on a worker thread (bpy data must not be read there)."""
    values: dict[str, Any] = {}
    for prop in struct.bl_rna.properties:
        key = prop.identifier
        if key == "rna_type":
            continue
        value = getattr(struct, key)
        if prop.type == "POINTER":
            value = _snapshot(value) if value is not None else None
        elif prop.type == "COLLECTION":
            value = [_snapshot(member) for member in value]
        elif getattr(prop, "is_array", False):
            value = tuple(value)
        values[key] = value
    return SimpleNamespace(**values)


def _in_background(work: Callable[[], Any], done: Done) -> None:
    """`work()` on a worker thread, then `done(result, error)` on the main thread."""
    global _running
    if not lazy.in_ui():
        from .language import run_in_background

        run_in_background(work, done)
        return

    def run() -> None:
        try:
            result, error = work(), None
        except BaseException as exc:  # handed to done: the entry says the test itself failed
            result, error = None, exc
        _finished.append((done, result, error))

    _running += 1
    threading.Thread(target=run, name="shotcaller-server-test", daemon=True).start()
    if not bpy.app.timers.is_registered(follow_tests):
        bpy.app.timers.register(follow_tests, first_interval=FOLLOW_SECONDS)


def follow_tests() -> float | None:
    """UI timer: apply the finished tests' findings; stops when no test is running."""
    global _running
    while _finished:
        done, result, error = _finished.pop(0)
        _running -= 1
        try:
            done(result, error)
        except Exception:  # a timer that raises is dropped silently: the other tests still end
            log.exception("a server test's finding could not be applied")
    return FOLLOW_SECONDS if _running > 0 else None


CLASSES = (PREFERENCES_OT_shotcaller_instance_test,)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    if bpy.app.timers.is_registered(follow_tests):  # a timer left registered crashes Blender 4.2 at exit
        bpy.app.timers.unregister(follow_tests)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
