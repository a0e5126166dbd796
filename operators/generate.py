"""Generate and cancel shots from the Sequencer."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import EnumProperty

from ..addon import lazy
from ..addon.lazy import current_session
from ..sequencer import compat, status_colours
from ..settings.properties import ACTIVE_STATUSES, QUALITY_ITEMS


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
        scene = compat.sequencer_scene(context)
        return scene is not None and scene.sequence_editor is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        from ..mainthread import pump  # the core: imported on first use, not when the add-on registers
        from ..mainthread.submission import SUBMIT_BUDGET_SECONDS, submit_strips

        scene = compat.sequencer_scene(context)
        outcome = submit_strips(scene, _selected_strips(scene), self.quality, budget_seconds=SUBMIT_BUDGET_SECONDS)
        if not outcome.submitted and not outcome.waiting:
            self.report({"ERROR"}, " ".join(outcome.problems) or "Nothing to generate.")
            return {"CANCELLED"}
        if outcome.problems:
            self.report({"WARNING"}, f"Skipped: {' '.join(outcome.problems)}")
        for warning in outcome.warnings:
            self.report({"WARNING"}, warning)
        count = len(outcome.submitted) + outcome.waiting  # the rest are submitted over the next ticks
        self.report({"INFO"}, f"Generating {count} shot{'s' if count != 1 else ''} ({self.quality})")
        pump.ensure_timer()
        return {"FINISHED"}


def generating_strips(scene: bpy.types.Scene) -> list[Any]:
    """The scene's shot strips waiting to be submitted or with a job of this session (found through
    the waiting batches and the shot index, not by reading every strip: Cancel All at 1000 shots)."""
    from ..sequencer.index import find_shot_strips

    submission = lazy.loaded("mainthread.submission")
    strips = compat.all_strips(scene.sequence_editor)
    found = [strips.get(name) for name in submission.waiting_names(scene.name)] if submission is not None else []
    session = current_session()
    if session is not None:
        found += find_shot_strips(scene, [c.shot_id for c in list(session.jobs.values()) if c.scene_name == scene.name])
    return list({strip.name: strip for strip in found if strip is not None}.values())


def cancel_strips(scene: bpy.types.Scene, strips: list[Any]) -> int:
    """Cancel these shot strips: the ones still waiting to be submitted are withdrawn, the others'
    jobs cancelled in one call to the scheduler (linear in the shots, one journal write). Returns
    how many were waiting or generating."""
    submission = lazy.loaded("mainthread.submission")
    withdrawn = submission.withdraw(scene.name, {s.name for s in strips}) if submission is not None else 0
    session = current_session()
    if session is None:
        return withdrawn
    from ..mainthread import pump

    active = set(session.scheduler.active_job_ids())
    generating = [s for s in strips if s.shotcaller.status in ACTIVE_STATUSES and s.shotcaller.job_id in active]
    outcome = session.scheduler.cancel_now([s.shotcaller.job_id for s in generating])
    ended = set(outcome.ended)
    # The queued ones have ended: shown here, in the scene update this operator causes anyway, not
    # one drain and one repaint later. A running one hears "cancelled" when its backend stops.
    pump.settle(session, outcome.ended)
    for strip in generating:
        shot = strip.shotcaller
        if shot.job_id in ended:
            shot.status, shot.message, shot.job_id = "CANCELLED", outcome.message, ""
        elif shot.status == "RUNNING":
            shot.message = "cancelling"
    status_colours.show_now(scene, generating, "CANCELLED")
    cancelled = outcome.asked
    return withdrawn + cancelled


class SEQUENCER_OT_shotcaller_cancel(bpy.types.Operator):
    """Stop generating the selected shots (files already made are kept)"""

    bl_idname = "sequencer.shotcaller_cancel"
    bl_label = "Cancel Generation"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return current_session() is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        from ..mainthread import pump
        from ..mainthread.submission import is_take_strip

        scene = compat.sequencer_scene(context)
        cancelled = cancel_strips(scene, [s for s in _selected_strips(scene) if not is_take_strip(s)])
        if not cancelled:
            self.report({"WARNING"}, "None of the selected shots is generating.")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Cancelling {cancelled} shot(s)")
        pump.ensure_timer()
        return {"FINISHED"}


CLASSES = (SEQUENCER_OT_shotcaller_generate, SEQUENCER_OT_shotcaller_cancel)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
