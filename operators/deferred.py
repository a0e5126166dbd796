"""Shots asked for while Shotcaller is still loading its core.

In the UI the heavy half (pydantic, the backends' clients, the scheduler, then mainthread.submission
and mainthread.pump) is imported on a worker thread (addon/warmup.py). An operator pressed before
that thread has finished must neither import it on the main thread nor wait for the module locks the
thread holds: either froze Blender 0.7-1 s on a first Generate Missing. So Generate, Generate
Missing, Retry Failed, Redo and Variation hand their shots here: the shots show as queued, "waiting
for Shotcaller to finish loading", the operator returns at once, and a timer submits them as the
operator would have once the warm-up is done. When the warm-up failed the shots say so, FAILED.

Once the warm-up has finished, the Blender layer on top of the core (mainthread.submission and
mainthread.pump: a few milliseconds, half of a first press after the warm-up) is imported on a worker
thread too, started by the next poll (or press): a press before it is in waits for it the same way.
Their module code only defines things, it calls no bpy.

Nothing here imports the core: polls and operators may call any of it. Headless no warm-up runs
(the batch imports what it needs where it needs it), so nothing is deferred there.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bpy
from bpy.app.handlers import persistent

from ..addon import lazy, warmup
from ..sequencer import compat, status_colours
from ..sequencer.index import find_shot_strip
from ..settings.preferences import ADDON_PACKAGE

log = logging.getLogger(__name__)

WAITING_MESSAGE = "waiting for Shotcaller to finish loading"
POLL_SECONDS = 0.05
# A warm-up that has not ended by then is stuck (a thread blocked on a lock, a file system that does
# not answer): the shots waiting for it fail, saying what to do, rather than stay queued for ever.
WARM_UP_TIMEOUT_SECONDS = 120.0

_warm_up_asked = False  # polls run on every redraw of their button: the warm-up is asked for once
# The Blender layer on top of the core, imported on a worker thread once the warm-up has finished.
LAYER_MODULES = ("mainthread.submission", "mainthread.pump")
# The thread's first act: a poll that starts it draws a button that may be pressed at once, and that
# press should not share the interpreter lock with the imports (a press before they end waits for them).
LAYER_PAUSE_SECONDS = 0.05
_layer: threading.Thread | None = None
_layer_failure: str | None = None


def warm_up(context: Any) -> bool:
    """An operator's button is drawn (Blender polls the operator to draw it), or it is run in the UI:
    the core it will need is imported now, on a worker thread, not when it is pressed. Only the
    servers' kinds are read here: the preferences' own settings import part of the core. Returns
    whether this call started the thread."""
    global _warm_up_asked
    if _warm_up_asked:
        return False
    _warm_up_asked = True
    addon = context.preferences.addons.get(ADDON_PACKAGE)
    servers = list(addon.preferences.instances) if addon is not None and addon.preferences is not None else []
    # As BackendSettings.instance_configs: the list's enabled servers, or the one default ComfyUI.
    kinds = {server.kind for server in servers if server.enabled} if servers else {"comfyui"}
    return warmup.start(kinds)


def poll_warm_up(context: Any) -> None:
    """What a submitting operator's poll does: in the UI, start the warm-up (once), and once it has
    finished the Blender layer's import (once)."""
    if not _warm_up_asked:
        if lazy.in_ui():
            warm_up(context)
    elif _layer is None and warmup.finished() and warmup.failure() is None and lazy.in_ui():
        _start_layer()


def _layer_in() -> bool:
    return all(lazy.loaded(name) is not None for name in LAYER_MODULES)


def _start_layer() -> bool:
    """Import the Blender layer on a worker thread, once. Returns whether it is being imported."""
    global _layer
    if _layer is not None:
        return _layer.is_alive()
    if _layer_in():
        return False
    _layer = threading.Thread(target=_import_layer, name="shotcaller-layer", daemon=True)
    _layer.start()
    return True


def _import_layer() -> None:
    global _layer_failure
    time.sleep(LAYER_PAUSE_SECONDS)
    try:
        for name in LAYER_MODULES:
            importlib.import_module(f"{lazy.PACKAGE}.{name}")
    except Exception as exc:  # the shots waiting for it say so; the console has the traceback
        _layer_failure = f"{type(exc).__name__}: {exc}"
        log.error("Shotcaller could not import its Blender layer on a worker thread", exc_info=True)


def loading() -> bool:
    """Whether the warm-up, or the Blender layer's import after it, is still running."""
    return warmup.running() or (_layer is not None and _layer.is_alive())


def failure() -> str | None:
    """What stopped the warm-up or the layer's import, once it has ended that way."""
    if warmup.failure() is not None:
        return warmup.failure()
    return _layer_failure if _layer is not None and not _layer.is_alive() else None


def wait_loaded(timeout: float) -> bool:
    """Wait for the warm-up and the layer's import (tests). Returns whether both have ended."""
    warmup.wait(timeout)
    if _layer is not None:
        _layer.join(timeout)
    return not loading()


def core_state(context: Any) -> str:
    """ "loading" (the shots must wait), "failed" (they cannot be sent), or "ready" (the operator imports
    nothing heavy and submits as it always has: the core and the layer are in, or this is headless)."""
    if lazy.in_ui() and not warmup.running() and not warmup.finished() and warm_up(context):
        return "loading"  # the UI, and no sidebar has drawn a button yet (a script, a shortcut): warm up now
    return _state()


def _state() -> str:
    if loading():
        return "loading"
    if failure() is not None:
        return "failed"
    if not lazy.in_ui() or _layer_in():
        return "ready"
    # The warm-up has finished (or had nothing to import), the layer is not in: import it now, and wait.
    return "loading" if _start_layer() else "ready"


def timeout_message(seconds: float) -> str:
    return (
        f"Shotcaller has not finished loading after {seconds:.0f} s, so this shot was not sent. Generate it"
        " again in a moment; if it fails again, restart Blender (the system console shows what Shotcaller"
        " was loading)."
    )


def pending_names(scene: Any) -> set[str]:
    """The scene's shots already asked for and not sent yet: waiting here, or in the submission's
    batches (its session being opened, or the rest of a large batch)."""
    names = set(waiting_names(scene.name))
    submission = lazy.loaded("mainthread.submission")
    if submission is not None:
        names.update(submission.waiting_names(scene.name))
    return names


def without_pending(operator: Any, scene: Any, strips: list[Any]) -> list[Any]:
    """`strips` less the shots already waiting to be sent (a second press before the first one's
    shots went out would make each of them twice), saying which were left out."""
    pending = pending_names(scene)
    if not pending:
        return strips
    kept = [strip for strip in strips if strip.name not in pending]
    left_out = [strip.name for strip in strips if strip.name in pending]
    if left_out:
        names = ", ".join(f"'{name}'" for name in left_out[:3]) + (" and others" if len(left_out) > 3 else "")
        operator.report({"WARNING"}, f"Already waiting to be sent, not asked for again: {names}.")
    return kept


def failure_message(detail: str) -> str:
    return (
        f"Shotcaller could not finish loading ({detail}), so this shot was not sent. Restart Blender and"
        " generate again; if it fails again, reinstall the extension (Edit > Preferences > Get Extensions)."
        " The system console shows the full error."
    )


@dataclass
class _Request:
    """Shots an operator was pressed for while the core was loading, by strip name and shot id (a
    reference to a strip would not survive an undo; an undo or a rename changes a name, not an id),
    with what the operator would have submitted them with."""

    blend: str  # the file they belong to
    scene_name: str
    names: list[str]
    quality: str  # "" : each shot at its own last quality (Retry Failed)
    options: dict[str, Any] = field(default_factory=dict)  # submit_strips' seed, keep_seeds, bypass_cache
    ids: dict[str, str] = field(default_factory=dict)  # strip name -> its shot id, when it has one
    since: float = field(default_factory=time.monotonic)  # when it was asked for (WARM_UP_TIMEOUT_SECONDS)


_requests: list[_Request] = []
# Each waiting shot's status and message before it was marked waiting: Cancel puts them back.
_before: dict[tuple[str, str], tuple[str, str]] = {}


def hand_over(
    operator: Any, context: Any, scene: Any, strips: list[Any], quality: str, said: str, **options: Any
) -> set[str] | None:
    """Called by a submitting operator before it imports anything: None when the core is in (the
    operator submits as it always has), else the operator's result, the shots waiting for the timer
    (or FAILED when the warm-up failed). `said` is what the operator reports on success;
    `options` what it passes submit_strips. `quality` "" submits each at its last quality."""
    state = core_state(context)
    if state == "ready":
        return None
    if state == "failed":
        message = failure_message(failure() or "")
        _show(scene, [(strip, "FAILED", message) for strip in strips])
        operator.report({"ERROR"}, message)
        return {"CANCELLED"}
    names, ids = [], {}
    for strip in strips:
        shot = strip.shotcaller
        _before.setdefault((scene.name, strip.name), (shot.status, shot.message))
        names.append(strip.name)
        if shot.shot_id:
            ids[strip.name] = shot.shot_id
    _show(scene, [(strip, "QUEUED", WAITING_MESSAGE) for strip in strips])
    _requests.append(_Request(bpy.data.filepath, scene.name, names, quality, options, ids))
    if not bpy.app.timers.is_registered(submit_waiting):
        bpy.app.timers.register(submit_waiting, first_interval=POLL_SECONDS)
    operator.report({"INFO"}, f"{said}, {WAITING_MESSAGE}")
    return {"FINISHED"}


def _show(scene: Any, changes: list[tuple[Any, str, str]]) -> None:
    for strip, status, message in changes:
        shot = strip.shotcaller
        shot.status, shot.message, shot.progress = status, message, 0.0
        if status != "QUEUED":
            _before.pop((scene.name, strip.name), None)
    for status in {status for _, status, _ in changes}:
        status_colours.show_now(scene, [(s, s.shotcaller) for s, st, _ in changes if st == status], status)


def waiting() -> bool:
    return bool(_requests)


def waiting_names(scene_name: str) -> list[str]:
    return [name for request in _requests if request.scene_name == scene_name for name in request.names]


def withdraw(scene: Any, strips: list[Any]) -> int:
    """Cancel these strips before they were sent: they leave the waiting requests and show what
    they showed before they waited (also those the timer had already handed to the submission's
    waiting batches, which the caller withdrew from there first). Returns how many were waiting here."""
    names = {strip.name for strip in strips}
    withdrawn = 0
    for request in _requests:
        if request.scene_name == scene.name:
            kept = [name for name in request.names if name not in names]
            withdrawn += len(request.names) - len(kept)
            request.names = kept
    _requests[:] = [request for request in _requests if request.names]
    if not _requests and bpy.app.timers.is_registered(submit_waiting):
        bpy.app.timers.unregister(submit_waiting)
    if _before:
        restored = []
        for strip in strips:
            before = _before.pop((scene.name, strip.name), None)
            if before is not None and strip.shotcaller.status == "QUEUED" and not strip.shotcaller.job_id:
                restored.append((strip, *before))
        _show(scene, restored)
    return withdrawn


def submit_waiting() -> float | None:
    """The timer behind the waiting shots: once the warm-up has ended, each request is submitted as
    its operator would have (a slice now, the rest over the pump's ticks), and whatever the operator
    would have said beyond its INFO is reported."""
    if _state() == "loading":  # the warm-up, then the layer's import
        now = time.monotonic()
        stuck = [request for request in _requests if now - request.since > WARM_UP_TIMEOUT_SECONDS]
        if stuck:
            from .language import notify

            _requests[:] = [request for request in _requests if now - request.since <= WARM_UP_TIMEOUT_SECONDS]
            _fail(stuck, timeout_message(WARM_UP_TIMEOUT_SECONDS), notify)
        return POLL_SECONDS if _requests else None
    from .language import notify

    requests, _requests[:] = list(_requests), []
    detail = failure()
    if detail is not None:
        _fail(requests, failure_message(detail), notify)
        return None
    submitted = False
    for n, request in enumerate(requests):
        try:
            submitted = _submit(request, notify) or submitted
        except Exception as exc:  # a timer that raises is dropped silently: the shots would be lost unsaid
            log.exception("Shotcaller could not submit the shots")
            _fail(requests[n:], f"Shotcaller could not start: {exc}", notify)
            break
    if submitted:
        lazy.ensure_timer()
    return None


def _scene_of(request: _Request) -> Any | None:
    scene = bpy.data.scenes.get(request.scene_name)
    if request.blend != bpy.data.filepath or scene is None or scene.sequence_editor is None:
        return None
    return scene


def _still_waiting(scene: Any, names: list[str]) -> list[Any]:
    strips = compat.all_strips(scene.sequence_editor)
    found = [strip for strip in (strips.get(name) for name in names) if strip is not None]
    return [s for s in found if _is_waiting(s)]


def _is_waiting(strip: Any) -> bool:
    return bool(strip.shotcaller.status == "QUEUED" and strip.shotcaller.message == WAITING_MESSAGE)


def _found_again(scene: Any, request: _Request) -> list[Any]:
    """The request's strips as they are now, by shot id (then by name, for a shot that had none yet),
    its names brought up to date: an undo or a rename may have changed them."""
    strips = compat.all_strips(scene.sequence_editor)
    found, names, ids = [], [], {}
    for name in request.names:
        shot_id = request.ids.get(name, "")
        strip = find_shot_strip(scene, shot_id) if shot_id else None
        if strip is None:
            strip = strips.get(name)
            if strip is not None and shot_id and strip.shotcaller.shot_id not in ("", shot_id):
                strip = None  # another shot took its name
        if strip is None:
            continue  # deleted, or undone to before it was made: nothing to send
        if strip.name != name and (scene.name, name) in _before:
            _before[(scene.name, strip.name)] = _before.pop((scene.name, name))
        found.append(strip)
        names.append(strip.name)
        if shot_id:
            ids[strip.name] = shot_id
    request.names, request.ids = names, ids
    return found


def _fail(requests: list[_Request], message: str, notify: Callable[[str, str], None]) -> None:
    for request in requests:
        scene = _scene_of(request)
        if scene is not None:
            _show(scene, [(strip, "FAILED", message) for strip in _found_again(scene, request) if _is_waiting(strip)])
    notify("ERROR", message)


def _submit(request: _Request, notify: Callable[[str, str], None]) -> bool:
    from ..mainthread.submission import SUBMIT_BUDGET_SECONDS, submit_strips, waiting_names
    from .generate import late_reports

    scene = _scene_of(request)
    if scene is None:
        return False
    strips = [s for s in _found_again(scene, request) if _is_waiting(s)]  # not those cancelled, or failed, meanwhile
    by_quality: dict[str, list[Any]] = {}
    for strip in strips:
        by_quality.setdefault(request.quality or strip.shotcaller.last_quality or "draft", []).append(strip)
    said: set[str] = set()
    problems: list[str] = []
    started = False
    for quality, group in by_quality.items():
        # The session is opened on a worker thread (report_later) when it has to be built: this tick
        # stays as short as a Generate pressed after the warm-up.
        outcome = submit_strips(
            scene,
            group,
            quality,
            budget_seconds=SUBMIT_BUDGET_SECONDS / len(by_quality),
            report_later=late_reports(),
            **request.options,
        )
        started = started or bool(outcome.submitted or outcome.waiting)
        problems += outcome.problems
        for message in outcome.problems + outcome.warnings:
            if message not in said:  # the session's warnings come back with every submission
                said.add(message)
                notify("WARNING", message)
    # Still marked waiting, yet neither sent nor in the submission's batches: refused before a shot
    # was sent (say, a server URL Shotcaller may not use). They say why rather than stay queued.
    batched = set(waiting_names(scene.name))
    refused = [s for s in _still_waiting(scene, [s.name for s in strips]) if s.name not in batched]
    if refused:
        _show(scene, [(strip, "FAILED", " ".join(problems) or "Nothing to generate.") for strip in refused])
    for strip in strips:
        if strip.name in batched:  # sent over the pump's next ticks
            strip.shotcaller.message = "queued"
        elif strip.shotcaller.job_id:  # sent: Cancel cancels its job now
            _before.pop((scene.name, strip.name), None)
    return started


@persistent
def _after_undo(*_args: Any) -> None:
    """An undo or redo brings the strips back as they were at that step, and Python's references to
    them die: the shots marked waiting after it would show their old status again, and the timer would
    pass them over as cancelled. They are found again (by shot id) and shown waiting again."""
    for request in _requests:
        scene = _scene_of(request)
        if scene is not None:
            again = [strip for strip in _found_again(scene, request) if not _is_waiting(strip)]
            _show(scene, [(strip, "QUEUED", WAITING_MESSAGE) for strip in again])
    _requests[:] = [request for request in _requests if request.names]


@persistent
def _forget(*_args: Any) -> None:
    """Another file was opened (or this one reverted): the waiting shots are not in it."""
    _requests.clear()
    _before.clear()


UNDO_HANDLERS = ("undo_post", "redo_post")


def register() -> None:
    bpy.app.handlers.load_post.append(_forget)
    for name in UNDO_HANDLERS:
        getattr(bpy.app.handlers, name).append(_after_undo)


def unregister() -> None:
    _requests.clear()
    _before.clear()
    if _forget in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_forget)
    for name in UNDO_HANDLERS:
        if _after_undo in getattr(bpy.app.handlers, name):
            getattr(bpy.app.handlers, name).remove(_after_undo)
    if bpy.app.timers.is_registered(submit_waiting):  # a timer left registered crashes Blender 4.2 at exit
        bpy.app.timers.unregister(submit_waiting)
