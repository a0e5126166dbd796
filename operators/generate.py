"""Generate and cancel shots from the Sequencer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import bpy
from bpy.props import EnumProperty

from ..addon import lazy
from ..addon.lazy import current_session
from ..sequencer import compat, status_colours
from ..sequencer.index import is_take_strip
from ..settings.properties import ACTIVE_STATUSES, QUALITY_ITEMS
from . import deferred

log = logging.getLogger(__name__)

# The sidebar's poll starts the warm-up; what is pressed before it has finished waits for it.
warm_up = deferred.warm_up
submit_deferred = deferred.submit_waiting


def _selected_strips(scene: bpy.types.Scene) -> list:
    if scene is None or scene.sequence_editor is None:
        return []
    return [strip for strip in compat.all_strips(scene.sequence_editor) if strip.select]


class SEQUENCER_OT_shotcaller_generate(bpy.types.Operator):
    """Generate the selected shots in the background; each lands as a take above its strip"""

    bl_idname = "sequencer.shotcaller_generate"
    bl_label = "Generate Shots"
    bl_options = {"REGISTER"}

    quality: EnumProperty(name="Quality", items=QUALITY_ITEMS, default="draft")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        deferred.poll_warm_up(context)  # not headless: there is no frame to keep, the operator imports the core
        scene = compat.sequencer_scene(context)
        return scene is not None and scene.sequence_editor is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = compat.sequencer_scene(context)
        strips = _selected_strips(scene)
        shots = [strip for strip in strips if not is_take_strip(strip)]
        if shots:
            # A second press before the first one's shots were sent would make each of them twice.
            strips = shots = deferred.without_pending(self, scene, shots)
            if not shots:
                return {"CANCELLED"}
            said = generating_message(len(shots), self.quality)
            if (waiting := deferred.hand_over(self, context, scene, shots, self.quality, said)) is not None:
                return waiting
        from ..mainthread import pump  # the core: imported on first use, not when the add-on registers
        from ..mainthread.submission import SUBMIT_BUDGET_SECONDS, submit_strips

        outcome = submit_strips(
            scene, strips, self.quality, budget_seconds=SUBMIT_BUDGET_SECONDS, report_later=late_reports()
        )
        reports = outcome_reports(outcome, self.quality)
        for level, message in reports:
            self.report({level}, message)
        if reports[0][0] == "ERROR":
            return {"CANCELLED"}
        pump.ensure_timer()
        return {"FINISHED"}


def generating_message(count: int, quality: str) -> str:
    return f"Generating {count} shot{'s' if count != 1 else ''} ({quality})"


def outcome_reports(outcome: Any, quality: str) -> list[tuple[str, str]]:
    """What a submission tells the user, (level, message) each; an ERROR first when nothing started."""
    if not outcome.submitted and not outcome.waiting:
        return [("ERROR", " ".join(outcome.problems) or "Nothing to generate.")]
    reports = [("WARNING", f"Skipped: {' '.join(outcome.problems)}")] if outcome.problems else []
    reports += [("WARNING", warning) for warning in outcome.warnings]
    count = len(outcome.submitted) + outcome.waiting  # the rest are submitted over the next ticks
    return [*reports, ("INFO", generating_message(count, quality))]


def late_reports() -> Callable[[str, str], None] | None:
    """In the UI, a session that has to be built is built on a worker thread (the first Generate):
    what it finds wrong is reported after the operator has returned. Headless, at once."""
    from .language import notify

    return notify if lazy.in_ui() else None


def generating_strips(scene: bpy.types.Scene) -> list[Any]:
    """The scene's shot strips waiting to be submitted or with a job of this session (found through
    the waiting batches and the shot index, not by reading every strip: Cancel All at 1000 shots)."""
    from ..sequencer.index import find_shot_strips

    submission = lazy.loaded("mainthread.submission")
    strips = compat.all_strips(scene.sequence_editor)
    found = [strips.get(name) for name in submission.waiting_names(scene.name)] if submission is not None else []
    found += [strips.get(name) for name in deferred.waiting_names(scene.name)]
    session = current_session()
    if session is not None:
        found += find_shot_strips(scene, [c.shot_id for c in list(session.jobs.values()) if c.scene_name == scene.name])
    return list({strip.name: strip for strip in found if strip is not None}.values())


def cancel_strips(scene: bpy.types.Scene, strips: list[Any]) -> int:
    """Cancel these shot strips: the ones still waiting to be submitted are withdrawn, the others'
    jobs cancelled in one call to the scheduler (linear in the shots, one journal write). Returns
    how many were waiting or generating.

    Each strip's data is read once: at 1000 shots every read of a strip's property costs the
    operator about a millisecond."""
    submission = lazy.loaded("mainthread.submission")
    withdrawn = 0
    if deferred.waiting() or (submission is not None and submission.waiting()):
        withdrawn = submission.withdraw(scene.name, {s.name for s in strips}) if submission is not None else 0
        withdrawn += deferred.withdraw(scene, strips)  # after: it also shows what those withdrawn above showed
    session = current_session()
    if session is None:
        return withdrawn
    from ..mainthread import pump

    active = set(session.scheduler.active_job_ids())
    generating = []  # (strip, its shot, its job)
    for strip in strips:
        shot = strip.shotcaller
        job_id = shot.job_id
        if job_id in active and shot.status in ACTIVE_STATUSES:
            generating.append((strip, shot, job_id))
    outcome = session.scheduler.cancel_now([job_id for _, _, job_id in generating])
    ended = set(outcome.ended)
    # The queued ones have ended: shown here, in the scene update this operator causes anyway, not
    # one drain and one repaint later. A running one hears "cancelled" when its backend stops.
    pump.settle(session, outcome.ended)
    for _, shot, job_id in generating:
        if job_id in ended:
            shot.status, shot.message, shot.job_id = "CANCELLED", outcome.message, ""
        else:  # running, or being queued right now: its end comes as an event
            shot.message = "cancelling"
    status_colours.show_now(scene, [(strip, shot) for strip, shot, _ in generating], "CANCELLED")
    return withdrawn + outcome.asked


class SEQUENCER_OT_shotcaller_cancel(bpy.types.Operator):
    """Stop generating the selected shots (files already made are kept)"""

    bl_idname = "sequencer.shotcaller_cancel"
    bl_label = "Cancel Generation"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return current_session() is not None or deferred.waiting()

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = compat.sequencer_scene(context)
        cancelled = cancel_strips(scene, [s for s in _selected_strips(scene) if not is_take_strip(s)])
        if not cancelled:
            self.report({"WARNING"}, "None of the selected shots is generating.")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Cancelling {cancelled} shot(s)")
        if current_session() is not None:  # shots cancelled while Shotcaller was loading need no pump
            lazy.ensure_timer()
        return {"FINISHED"}


CLASSES = (SEQUENCER_OT_shotcaller_generate, SEQUENCER_OT_shotcaller_cancel)


def register() -> None:
    deferred.register()
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    deferred.unregister()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
