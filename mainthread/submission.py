"""Reading strips into shots and handing them to the session. Main thread only.

Shared by the sidebar operator and the headless batch so both behave the same.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bpy

from ..backends.files import slug
from ..backends.urls import UnsafeURL
from ..jobs.journal import Journal, JournalError, journal_at
from ..jobs.session import BackendSettings, JobContext, RoutingPolicy, Session, get_session, session_for
from ..sequencer import compat, status_colours
from ..sequencer import index as strip_index
from ..settings.preferences import ADDON_PACKAGE, Settings, current_settings
from ..settings.properties import random_seed, roll_seed
from ..shots import ShotError, ShotSpec, make_spec


@dataclass
class SubmitOutcome:
    submitted: list[tuple[str, str]] = field(default_factory=list)  # (strip name, job id)
    problems: list[str] = field(default_factory=list)  # shots that were not submitted, and why
    warnings: list[str] = field(default_factory=list)  # submitted, but something needs the user's eye
    session: Session | None = None
    waiting: int = 0  # shots not submitted yet: the pump submits them over the next ticks


is_take_strip = strip_index.is_take_strip


ensure_shot_ids = strip_index.ensure_shot_ids  # light: the writing tools call it without the core


find_shot_strip = strip_index.find_shot_strip  # constant time: see sequencer/index.py


def spec_from_strip(scene: Any, strip: Any, quality: str, seed: int | None = None) -> ShotSpec:
    shot = strip.shotcaller
    render = scene.render
    if shot.use_scene_resolution:
        scale = render.resolution_percentage / 100.0
        width, height = round(render.resolution_x * scale), round(render.resolution_y * scale)
    else:
        width, height = shot.width, shot.height
    return make_spec(
        shot_id=shot.shot_id,
        label=strip.name,
        prompt=shot.prompt,
        negative_prompt=shot.negative_prompt,
        media=shot.media,
        quality=quality,
        seed=shot.seed if seed is None else seed,
        width=max(16, width - width % 2),
        height=max(16, height - height % 2),
        fps=render.fps / render.fps_base,
        frame_count=compat.duration(strip),
        backend_pin=shot.backend_pin.strip() or None,
        init_image=_init_image_path(strip),
    )


def _init_image_path(strip: Any) -> str | None:
    raw = strip.shotcaller.init_image.strip()
    if not raw:
        return None
    path = os.path.abspath(bpy.path.abspath(raw))
    if not os.path.isfile(path):
        raise ShotError(f"shot '{strip.name}': the init image {path} does not exist; pick another or clear it")
    return path


def takes_folder(settings: Settings) -> str:
    """Absolute folder for takes; beside the .blend, or the extension's own folder when unsaved."""
    folder = settings.output_folder.strip() or "//shotcaller_takes"
    if folder.startswith("//") and not bpy.data.filepath:
        fallback = compat.extension_user_dir(ADDON_PACKAGE, "takes")
        return fallback or os.path.join(bpy.app.tempdir or os.path.expanduser("~"), "shotcaller_takes")
    return os.path.abspath(bpy.path.abspath(folder))


def backend_settings(settings: Settings) -> BackendSettings:
    return BackendSettings(
        comfyui_url=settings.comfyui_url,
        template_folder=bpy.path.abspath(settings.template_folder) if settings.template_folder else "",
        jobs_per_server=settings.jobs_per_server,
        online_access=bool(bpy.app.online_access),
        instances=settings.instances,
    )


def routing_policy(scene: Any) -> RoutingPolicy:
    project = scene.shotcaller_project
    return RoutingPolicy(allow_cloud=project.allow_cloud, force_local=project.force_local, budget=project.budget)


def decision_log_path(takes: str) -> str:
    """One JSON line per routing decision, kept with the project's takes."""
    return os.path.join(takes, "shotcaller_decisions.jsonl")


def project_journal(folder: str, outcome: SubmitOutcome | None = None) -> Journal | None:
    """The project's job journal beside its takes; None (with a warning) when it cannot be opened."""
    try:
        return journal_at(folder)
    except JournalError as exc:
        if outcome is not None:
            outcome.warnings.append(f"{exc}; jobs running when Blender closes cannot be recovered")
        return None


def job_context(scene: Any, strip: Any, quality: str) -> dict[str, Any]:
    """What the journal keeps to find a job's strip again after a crash, and whose job it is."""
    return {
        "scene": scene.name,
        "strip": strip.name,
        "quality": quality,
        "pid": os.getpid(),
        "blend": bpy.data.filepath,
    }


SUBMIT_BUDGET_SECONDS = 0.008  # the operator's and each later tick's share of a 60 fps frame


OPEN_PAUSE_SECONDS = 0.01  # _open_later's worker waits this long before it builds the session

Reporter = Callable[[str, str], None]  # (level, message), after the operator has returned


@dataclass
class _Target:
    """Where a batch's jobs go, decided once, with its first shot that can be submitted."""

    session: Session
    folder: str
    policy: RoutingPolicy
    decision_log: Any
    journal: Journal | None


@dataclass
class _Batch:
    """Shots still to submit, by strip name (Blender finds a strip by name in constant time, and a
    reference to a strip would not survive an undo between two ticks)."""

    scene_name: str
    names: deque[str]
    quality: str
    settings: Settings
    outcome: SubmitOutcome
    seed: int | None = None  # Redo's and Variation's seed; None: each unlocked shot rolls its own
    keep_seeds: bool = False  # each shot keeps its own seed, locked or not (a retry is not a variation)
    bypass_cache: bool = False
    target: _Target | None = None
    failed: bool = False
    report_later: Reporter | None = None  # the UI: the session is opened on a worker thread (_open_later)
    opening: bool = False
    said: int = 0  # outcome.problems already said (by the operator, or through report_later)


_batches: list[_Batch] = []  # submitted a slice per tick by the pump (see `continue_submitting`)


def submit_strips(
    scene: Any,
    strips: list[Any],
    quality: str,
    settings: Settings | None = None,
    budget_seconds: float | None = None,
    *,
    seed: int | None = None,
    keep_seeds: bool = False,
    bypass_cache: bool = False,
    report_later: Reporter | None = None,
) -> SubmitOutcome:
    """Submit the shots among `strips`. With a budget (the operator's), stop when it is spent and
    leave the rest to the pump's next ticks, so 1000 shots never freeze the UI; `outcome.waiting`
    says how many are left. Without one (headless, tests), submit everything now. A shot whose seed
    is not locked gets a new random seed (kept on the shot, so Redo repeats it) unless `seed` is
    given: Redo passes the take's seed, Variation a new one, both with `bypass_cache` so they make a
    new take, not a cached copy. `keep_seeds`: every shot keeps the seed it has (Retry Failed).
    `report_later` (the UI's): when the session has to be built first, it is built on a worker thread
    and the shots wait for the pump's ticks; what it finds wrong is reported through this."""
    outcome = SubmitOutcome()
    settings = settings or current_settings()
    shots = [s for s in strips if not is_take_strip(s)]
    if not shots:
        outcome.problems.append("No shot strip is selected: select the strips to generate in the Sequencer.")
        return outcome
    ensure_shot_ids(scene)
    batch = _Batch(scene.name, deque(s.name for s in shots), quality, settings, outcome, seed, keep_seeds, bypass_cache)
    batch.report_later = report_later
    _run(batch, scene, None if budget_seconds is None else time.monotonic() + budget_seconds)
    batch.said = len(outcome.problems)  # the caller says these; report_later the later ones
    if batch.names:
        _batches.append(batch)
    return outcome


def continue_submitting(budget_seconds: float = SUBMIT_BUDGET_SECONDS) -> int:
    """The pump's share of submitting: more shots of the waiting batches, within the budget. Returns how
    many are still waiting."""
    deadline = time.monotonic() + budget_seconds
    for batch in list(_batches):
        scene = bpy.data.scenes.get(batch.scene_name)
        if scene is None or scene.sequence_editor is None:
            batch.names.clear()
        else:
            _run(batch, scene, deadline)
        _say_later(batch)
        if not batch.names:
            _batches.remove(batch)
        if time.monotonic() >= deadline:
            break
    return waiting()


def _say_later(batch: _Batch) -> None:
    """The problems of shots submitted after the operator returned (all of them when the session was
    opened on a worker thread): said once each, through report_later, as the operator would have."""
    if batch.report_later is None:
        return
    for problem in batch.outcome.problems[batch.said :]:
        batch.report_later("WARNING", problem)
    batch.said = len(batch.outcome.problems)


def waiting() -> int:
    return sum(len(batch.names) for batch in _batches)


def waiting_names(scene_name: str) -> list[str]:
    """The strips of this scene still waiting to be submitted."""
    return [name for batch in _batches if batch.scene_name == scene_name for name in batch.names]


def withdraw(scene_name: str, strip_names: set[str]) -> int:
    """Take these strips out of the batches still waiting to be submitted (cancelled before they were
    sent: nothing to tell a server). Returns how many were waiting."""
    withdrawn = 0
    for batch in _batches:
        if batch.scene_name == scene_name:
            kept = deque(name for name in batch.names if name not in strip_names)
            withdrawn += len(batch.names) - len(kept)
            batch.names = kept
    _batches[:] = [batch for batch in _batches if batch.names]
    return withdrawn


def forget_waiting() -> None:
    """Another file was opened: the waiting shots' strips are not in it."""
    _batches.clear()


_shot_seconds = 0.002  # a moving average of one shot's submit: a slice stops before the next would overrun


def _run(batch: _Batch, scene: Any, deadline: float | None) -> None:
    global _shot_seconds
    outcome, strips = batch.outcome, compat.all_strips(scene.sequence_editor)
    if batch.target is None and batch.report_later is not None and not batch.failed:
        if not batch.opening and session_for(backend_settings(batch.settings)) is None:
            _open_later(batch, scene, batch.report_later)
        if batch.opening:  # the pump's tick after it has opened submits the first slice
            outcome.waiting = len(batch.names)
            return
    while batch.names and not batch.failed:
        began = time.monotonic()
        strip = strips.get(batch.names.popleft())
        if strip is not None and not is_take_strip(strip):
            _submit_one(batch, scene, strip)
            _shot_seconds += 0.2 * (time.monotonic() - began - _shot_seconds)
        if deadline is not None and time.monotonic() + _shot_seconds >= deadline:
            break
    outcome.waiting = 0 if batch.failed else len(batch.names)
    if batch.failed:
        batch.names.clear()


def _submit_one(batch: _Batch, scene: Any, strip: Any) -> None:
    outcome, quality = batch.outcome, batch.quality
    shot = strip.shotcaller
    if shot.media in {"audio", "music"} and not compat.HAS_AUDIO:
        message = f"'{strip.name}' is a sound shot, but this Blender build has no audio support to place it"
        shot.status, shot.message = "FAILED", message
        outcome.problems.append(message)
        return
    if batch.seed is None and not batch.keep_seeds and not shot.seed_locked:
        roll_seed(shot, random_seed())
    try:
        spec = spec_from_strip(scene, strip, quality, batch.seed)
    except ShotError as exc:
        shot.status, shot.message = "FAILED", str(exc)
        outcome.problems.append(str(exc))
        return
    target = batch.target or _target(batch, scene)
    if target is None:
        return
    shot_folder = os.path.join(target.folder, slug(strip.name))
    file_stem = f"{slug(strip.name)}_{quality}_{uuid.uuid4().hex[:8]}"
    job_id = target.session.scheduler.submit(
        spec,
        shot_folder,
        file_stem,
        policy=target.policy,
        decision_log=target.decision_log,
        journal=target.journal,
        context=job_context(scene, strip, quality),
        bypass_cache=batch.bypass_cache,
    )
    target.session.jobs[job_id] = JobContext(
        scene.name, spec.shot_id, strip.name, quality, bypass_cache=batch.bypass_cache
    )
    shot.job_id, shot.status, shot.progress = job_id, "QUEUED", 0.0
    shot.message, shot.hint, shot.last_quality = "queued", "", quality
    status_colours.show_later(scene, spec.shot_id)  # painted by the next drain with the others
    outcome.submitted.append((strip.name, job_id))


def _target(batch: _Batch, scene: Any) -> _Target | None:
    try:
        batch.target = _opener(batch, scene)()
    except Exception as exc:
        _refused(batch, exc)
    return batch.target


def _opener(batch: _Batch, scene: Any) -> Callable[[], _Target]:
    """What opens the batch's target: the session, the decision log and the project's journal. The
    preferences and the scene are read here; the function it returns touches no bpy (`_open_later`
    runs it on a worker thread)."""
    backends, folder, policy, outcome = (
        backend_settings(batch.settings),
        takes_folder(batch.settings),
        routing_policy(scene),
        batch.outcome,
    )

    def open_target() -> _Target:
        session = get_session(backends)
        outcome.session = session
        outcome.warnings.extend(session.problems())  # a broken user template, a server that could not be set up
        decision_log = session.decision_log_at(decision_log_path(folder))
        return _Target(session, folder, policy, decision_log, project_journal(folder, outcome))

    return open_target


def _refused(batch: _Batch, exc: BaseException) -> str:
    # UnsafeURL names the fix; anything else (a broken template folder, say) names the file
    message = str(exc) if isinstance(exc, UnsafeURL) else f"Shotcaller could not start: {exc}"
    batch.outcome.problems.append(message)
    batch.failed = True
    return message


def _open_later(batch: _Batch, scene: Any, report: Reporter) -> None:
    """The first Generate of a session in the UI: building the session (every server's client and
    templates) and opening the project's journal (a write to disk) cost tens of milliseconds, so they
    run on a worker thread, and the batch waits for the pump's tick that applies the result."""
    from ..jobs import background

    batch.opening = True

    def opened(target: _Target | None, error: BaseException | None) -> None:
        batch.opening = False
        for warning in batch.outcome.warnings:
            report("WARNING", warning)
        if target is not None:
            batch.target = target
            return
        message = _refused(batch, error or RuntimeError("no session"))
        report("ERROR", message)
        batch.said = len(batch.outcome.problems)
        scene = bpy.data.scenes.get(batch.scene_name)
        if scene is not None and scene.sequence_editor is not None:  # the shots say it where they are
            strips = compat.all_strips(scene.sequence_editor)
            for strip in filter(None, (strips.get(name) for name in batch.names)):
                strip.shotcaller.status, strip.shotcaller.message = "FAILED", message
        batch.names.clear()

    open_target = _opener(batch, scene)

    def open_after_the_operator() -> _Target:
        # A new thread runs at once and keeps the interpreter lock for up to its switch interval
        # (5 ms), which the operator that started it would wait for: it lets the operator finish first.
        time.sleep(OPEN_PAUSE_SECONDS)
        return open_target()

    background.submit(open_after_the_operator, opened)
