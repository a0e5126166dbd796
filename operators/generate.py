"""Generate and cancel shots from the Sequencer."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import EnumProperty

from ..addon import lazy
from ..addon.lazy import current_session
from ..sequencer import compat
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


def cancel_strips(scene: bpy.types.Scene, strips: list[Any]) -> int:
    """Cancel these shot strips: the ones still waiting to be submitted are withdrawn, the others'
    jobs cancelled in one call to the scheduler (linear in the shots, one journal write). Returns
    how many were waiting or generating."""
    submission = lazy.loaded("mainthread.submission")
    withdrawn = submission.withdraw(scene.name, {s.name for s in strips}) if submission is not None else 0
    session = current_session()
    if session is None:
        return withdrawn
    active = set(session.scheduler.active_job_ids())
    shots = [s.shotcaller for s in strips if s.shotcaller.status in ACTIVE_STATUSES and s.shotcaller.job_id in active]
    cancelled = int(session.scheduler.cancel_many([shot.job_id for shot in shots]))
    for shot in shots:  # a queued one hears "cancelled before it started" at the next drain
        if shot.status == "RUNNING":
            shot.message = "cancelling"
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
