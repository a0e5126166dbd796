"""The scene's shots as a whole: select one from the Shots list, generate the ones without a take,
retry the failed ones, cancel everything, and read one shot's full message and routing."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import EnumProperty, StringProperty

from ..addon import lazy
from ..addon.lazy import current_session
from ..panels import details
from ..sequencer import compat, takes
from ..sequencer.index import find_shot_strip, is_take_strip
from ..settings.properties import ACTIVE_STATUSES, QUALITY_ITEMS
from . import deferred

RETRY_STATUSES = {"FAILED", "INTERRUPTED"}


def _scene(context: bpy.types.Context):  # type: ignore[no-untyped-def]
    scene = compat.sequencer_scene(context)
    return scene if scene is not None and scene.sequence_editor is not None else None


def scene_shots(scene) -> list:  # type: ignore[no-untyped-def]
    """Every shot strip of the scene (not its takes), in timeline order."""
    if scene is None or scene.sequence_editor is None:
        return []
    shots = [s for s in compat.all_strips(scene.sequence_editor) if is_shot(s)]
    return sorted(shots, key=lambda s: (compat.left_handle(s), s.channel, s.name))


def is_shot(strip) -> bool:  # type: ignore[no-untyped-def]
    """A strip Shotcaller treats as a shot: not a take, and it has a prompt or has been generated.

    (Every strip gets a shot id when a generation starts, so the id alone says nothing.)"""
    shot = strip.shotcaller
    return not is_take_strip(strip) and bool(shot.prompt.strip() or len(shot.takes) or shot.status != "NONE")


def _said(what: str, count: int) -> str:
    return f"{what.capitalize()}: {count} shot{'s' if count != 1 else ''}"


def _submit(operator: bpy.types.Operator, context, scene, strips, quality: str, what: str, **kwargs) -> set[str]:  # type: ignore[no-untyped-def]
    if not strips:
        operator.report({"WARNING"}, f"No shot to {what}.")
        return {"CANCELLED"}
    strips = deferred.without_pending(operator, scene, strips)  # pressed again before they were sent
    if not strips:
        return {"CANCELLED"}
    waiting = deferred.hand_over(operator, context, scene, strips, quality, _said(what, len(strips)), **kwargs)
    if waiting is not None:
        return waiting
    from ..mainthread.submission import SUBMIT_BUDGET_SECONDS
    from .generate import late_reports

    # Within a frame's share, like Generate: the rest is submitted over the next ticks. The first
    # session is opened on a worker thread, like Generate's: what it finds wrong is said later.
    outcome = lazy.submit_strips(
        scene, strips, quality, budget_seconds=SUBMIT_BUDGET_SECONDS, report_later=late_reports(), **kwargs
    )
    for problem in outcome.problems:
        operator.report({"WARNING"}, problem)
    for warning in outcome.warnings:
        operator.report({"WARNING"}, warning)
    count = len(outcome.submitted) + outcome.waiting
    if not count:
        return {"CANCELLED"}
    operator.report({"INFO"}, _said(what, count))
    lazy.ensure_timer()
    return {"FINISHED"}


class SEQUENCER_OT_shotcaller_shot_select(bpy.types.Operator):
    """Select this shot's strip and show it in the timeline"""

    bl_idname = "sequencer.shotcaller_shot_select"
    bl_label = "Select Shot"
    bl_options = {"REGISTER", "UNDO"}

    shot_id: StringProperty(name="Shot ID", options={"HIDDEN"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = _scene(context)
        strip = find_shot_strip(scene, self.shot_id)
        if strip is None:
            self.report({"ERROR"}, "That shot is no longer in the edit.")
            return {"CANCELLED"}
        takes.select_only(scene, strip)
        takes.frame_in_timeline(context, scene, strip)
        return {"FINISHED"}


class SEQUENCER_OT_shotcaller_generate_missing(bpy.types.Operator):
    """Generate every shot of the scene that has a prompt and no take yet"""

    bl_idname = "sequencer.shotcaller_generate_missing"
    bl_label = "Generate Missing"
    bl_options = {"REGISTER"}

    quality: EnumProperty(name="Quality", items=QUALITY_ITEMS, default="draft")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        deferred.poll_warm_up(context)
        return _scene(context) is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = _scene(context)
        missing = [s for s in scene_shots(scene) if not len(s.shotcaller.takes)]
        strips = [s for s in missing if s.shotcaller.prompt.strip() and s.shotcaller.status not in ACTIVE_STATUSES]
        if not strips and missing:
            self.report({"WARNING"}, nothing_missing_to_generate(missing))
            return {"CANCELLED"}
        return _submit(self, context, scene, strips, self.quality, "generate")


def nothing_missing_to_generate(missing: list[Any]) -> str:
    """Why Generate Missing makes none of the shots the Shots list counts as not generated."""
    unwritten = [s.name for s in missing if not s.shotcaller.prompt.strip()]
    if unwritten:
        names = ", ".join(f"'{name}'" for name in unwritten[:3]) + (" and others" if len(unwritten) > 3 else "")
        have = "has" if len(unwritten) == 1 else "have"
        return f"No shot to generate: {names} {have} no prompt (write one in the Shot panel)."
    return "No shot to generate: the shots without a take are generating already."


class SEQUENCER_OT_shotcaller_retry_failed(bpy.types.Operator):
    """Generate again every shot whose last generation failed or was interrupted (same seed and quality)"""

    bl_idname = "sequencer.shotcaller_retry_failed"
    bl_label = "Retry Failed"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        deferred.poll_warm_up(context)
        return _scene(context) is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = _scene(context)
        failed = [s for s in scene_shots(scene) if s.shotcaller.status in RETRY_STATUSES]
        if not failed:
            self.report({"WARNING"}, "No shot has failed.")
            return {"CANCELLED"}
        failed = deferred.without_pending(self, scene, failed)  # pressed again before they were sent
        if not failed:
            return {"CANCELLED"}
        retrying = f"Retrying {len(failed)} failed shot(s)"  # quality "": each at the one it failed with
        if (waiting := deferred.hand_over(self, context, scene, failed, "", retrying, keep_seeds=True)) is not None:
            return waiting
        from ..mainthread.submission import SUBMIT_BUDGET_SECONDS
        from .generate import late_reports

        by_quality: dict[str, list] = {}
        for strip in failed:
            by_quality.setdefault(strip.shotcaller.last_quality or "draft", []).append(strip)
        submitted, said = 0, set()
        for quality, strips in by_quality.items():  # each at the quality and seed it failed with: not a variation
            outcome = lazy.submit_strips(
                scene,
                strips,
                quality,
                budget_seconds=SUBMIT_BUDGET_SECONDS / len(by_quality),
                keep_seeds=True,
                report_later=late_reports(),  # the first session: opened on a worker thread
            )
            submitted += len(outcome.submitted) + outcome.waiting  # the rest go over the next ticks
            for problem in outcome.problems + outcome.warnings:
                if problem not in said:  # the session's warnings come back with every submission
                    said.add(problem)
                    self.report({"WARNING"}, problem)
        if not submitted:
            return {"CANCELLED"}
        self.report({"INFO"}, f"Retrying {submitted} of {len(failed)} failed shot(s)")
        lazy.ensure_timer()
        return {"FINISHED"}


class SEQUENCER_OT_shotcaller_cancel_all(bpy.types.Operator):
    """Stop every shot of the scene that is queued or generating (files already made are kept)"""

    bl_idname = "sequencer.shotcaller_cancel_all"
    bl_label = "Cancel All"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return (current_session() is not None or deferred.waiting()) and _scene(context) is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .generate import cancel_strips, generating_strips

        scene = _scene(context)
        cancelled = cancel_strips(scene, generating_strips(scene))
        if not cancelled:
            self.report({"WARNING"}, "No shot of this scene is generating.")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Cancelling {cancelled} shot(s)")
        if current_session() is not None:  # shots cancelled while Shotcaller was loading need no pump
            lazy.ensure_timer()
        return {"FINISHED"}


class SEQUENCER_OT_shotcaller_details(bpy.types.Operator):
    """The shot's whole message, what to do about it, where it went and why, and every alternative"""

    bl_idname = "sequencer.shotcaller_details"
    bl_label = "Shot Details"
    bl_options = {"REGISTER"}

    shot_id: StringProperty(name="Shot ID", options={"HIDDEN"}, description="Empty: the active shot")

    def _strip(self, context: bpy.types.Context):  # type: ignore[no-untyped-def]
        scene = _scene(context)
        if self.shot_id:
            return find_shot_strip(scene, self.shot_id)
        return takes.active_shot_strip(scene)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return set(context.window_manager.invoke_popup(self, width=details.POPUP_WIDTH))

    def draw(self, context: bpy.types.Context) -> None:
        strip = self._strip(context)
        if strip is None:
            self.layout.label(text="That shot is no longer in the edit", icon="ERROR")
            return
        details.draw_details(self.layout, strip, details.POPUP_CHARS)

    def execute(self, context: bpy.types.Context) -> set[str]:
        strip = self._strip(context)
        if strip is None:
            self.report({"ERROR"}, "That shot is no longer in the edit.")
            return {"CANCELLED"}
        for line in details.details_lines(strip):  # headless, or from a script: the same text, as info
            self.report({"INFO"}, line)
        return {"FINISHED"}


CLASSES = (
    SEQUENCER_OT_shotcaller_shot_select,
    SEQUENCER_OT_shotcaller_generate_missing,
    SEQUENCER_OT_shotcaller_retry_failed,
    SEQUENCER_OT_shotcaller_cancel_all,
    SEQUENCER_OT_shotcaller_details,
)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
