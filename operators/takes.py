"""Working with a shot's takes: choose the one seen in the edit, jump to it, reveal or delete it,
redo it with the same seed or vary it with a new one.

Every operator acts on the active shot: the active strip, or the shot of the active take strip.
"""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty

from ..addon import lazy
from ..sequencer import compat, takes
from ..settings.properties import random_seed
from . import deferred


def _shot_strip(context: bpy.types.Context):  # type: ignore[no-untyped-def]
    return takes.active_shot_strip(compat.sequencer_scene(context))


def _has_takes(context: bpy.types.Context) -> bool:
    strip = _shot_strip(context)
    return strip is not None and len(strip.shotcaller.takes) > 0


def _take_index(operator: bpy.types.Operator, shot) -> int | None:  # type: ignore[no-untyped-def]
    """The operator's `index`, or the active take when it is -1; None (and a report) when out of range."""
    index = operator.index if operator.index >= 0 else shot.active_take
    if not 0 <= index < len(shot.takes):
        operator.report({"ERROR"}, f"There is no take {index + 1}: this shot has {len(shot.takes)}.")
        return None
    return int(index)


class _OnOneTake:
    """An operator on one take of the active shot: `index`, -1 for the active take."""

    index: IntProperty(name="Take", default=-1, min=-1, description="-1: the active take")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _has_takes(context)

    def chosen(self, context: bpy.types.Context):  # type: ignore[no-untyped-def]
        """(shot strip, take index), or None after reporting why there is no such take."""
        strip = _shot_strip(context)
        index = _take_index(self, strip.shotcaller)  # type: ignore[arg-type]
        return None if index is None else (strip, index)


class SEQUENCER_OT_shotcaller_take_use(bpy.types.Operator):
    """Show this take in the edit; the shot's other takes are kept and muted"""

    bl_idname = "sequencer.shotcaller_take_use"
    bl_label = "Use Take"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Take", description="The take to make active (0 is the first)", default=0, min=0)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _has_takes(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        strip = _shot_strip(context)
        shot = strip.shotcaller
        index = _take_index(self, shot)
        if index is None:
            return {"CANCELLED"}
        shot.active_take = index  # its update unmutes this take and mutes the others
        self.report({"INFO"}, f"'{strip.name}' shows take {index + 1} of {len(shot.takes)}")
        return {"FINISHED"}


class SEQUENCER_OT_shotcaller_take_step(bpy.types.Operator):
    """Show the shot's next or previous take in the edit"""

    bl_idname = "sequencer.shotcaller_take_step"
    bl_label = "Next or Previous Take"
    bl_options = {"REGISTER", "UNDO"}

    direction: EnumProperty(
        name="Direction",
        items=[("NEXT", "Next", "The take after the active one"), ("PREVIOUS", "Previous", "The take before it")],
        default="NEXT",
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _has_takes(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        strip = _shot_strip(context)
        shot = strip.shotcaller
        shot.active_take = takes.step_index(len(shot.takes), shot.active_take, self.direction)
        self.report({"INFO"}, f"'{strip.name}' shows take {shot.active_take + 1} of {len(shot.takes)}")
        return {"FINISHED"}


class SEQUENCER_OT_shotcaller_take_jump(_OnOneTake, bpy.types.Operator):
    """Select this take's strip and move the timeline to it"""

    bl_idname = "sequencer.shotcaller_take_jump"
    bl_label = "Jump to Take"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = compat.sequencer_scene(context)
        if (chosen := self.chosen(context)) is None:
            return {"CANCELLED"}
        shot, index = chosen[0].shotcaller, chosen[1]
        strip = takes.take_strip(scene, shot, shot.takes[index])
        if strip is None:
            self.report({"ERROR"}, f"Take {index + 1}'s strip is no longer in the edit (its file is kept).")
            return {"CANCELLED"}
        takes.select_only(scene, strip)
        takes.frame_in_timeline(context, scene, strip)
        return {"FINISHED"}


class SEQUENCER_OT_shotcaller_take_reveal(_OnOneTake, bpy.types.Operator):
    """Open the folder holding this take's file"""

    bl_idname = "sequencer.shotcaller_take_reveal"
    bl_label = "Reveal Take File"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        if (chosen := self.chosen(context)) is None:
            return {"CANCELLED"}
        strip, index = chosen
        path = takes.absolute(strip.shotcaller.takes[index].filepath)
        if not os.path.isfile(path):
            self.report({"ERROR"}, f"Take {index + 1}'s file is missing: {path}")
            return {"CANCELLED"}
        folder = os.path.dirname(path)
        if not bpy.app.background:  # headless there is no file browser to open
            bpy.ops.wm.path_open(filepath=folder)
        self.report({"INFO"}, f"Take {index + 1} is {path}")
        return {"FINISHED"}


class SEQUENCER_OT_shotcaller_take_delete(_OnOneTake, bpy.types.Operator):
    """Remove this take's strip from the edit and the take from the shot; its file only when asked"""

    bl_idname = "sequencer.shotcaller_take_delete"
    bl_label = "Delete Take"
    bl_options = {"REGISTER", "UNDO"}

    delete_file: BoolProperty(
        name="Also delete its file",
        default=False,
        description="Delete the take's media file and its record from disk too (undo does not bring them back)",
    )

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return set(context.window_manager.invoke_props_dialog(self))

    def execute(self, context: bpy.types.Context) -> set[str]:
        if (chosen := self.chosen(context)) is None:
            return {"CANCELLED"}
        strip, index = chosen
        self.report({"INFO"}, takes.remove_take(compat.sequencer_scene(context), strip, index, self.delete_file))
        return {"FINISHED"}


def _submit_again(operator: bpy.types.Operator, context: bpy.types.Context, seed: int, what: str) -> set[str]:
    scene = compat.sequencer_scene(context)
    strip = _shot_strip(context)
    shot = strip.shotcaller
    take = shot.takes[shot.active_take] if 0 <= shot.active_take < len(shot.takes) else None
    quality = take.quality if take is not None and take.quality in {"draft", "final"} else shot.last_quality
    said = f"{what} of '{strip.name}' ({quality}, seed {seed})"
    if not deferred.without_pending(operator, scene, [strip]):  # pressed again before it was sent
        return {"CANCELLED"}
    waiting = deferred.hand_over(operator, context, scene, [strip], quality, said, seed=seed, bypass_cache=True)
    if waiting is not None:
        return waiting
    from .generate import late_reports

    # The first session is opened on a worker thread (the shot waits for the pump's next tick).
    outcome = lazy.submit_strips(scene, [strip], quality, seed=seed, bypass_cache=True, report_later=late_reports())
    if not outcome.submitted and not outcome.waiting:
        operator.report({"ERROR"}, " ".join(outcome.problems) or "Nothing to generate.")
        return {"CANCELLED"}
    for warning in outcome.warnings:
        operator.report({"WARNING"}, warning)
    operator.report({"INFO"}, said)
    lazy.ensure_timer()
    return {"FINISHED"}


class SEQUENCER_OT_shotcaller_redo(bpy.types.Operator):
    """Make a new take of the active shot with the active take's seed and quality"""

    bl_idname = "sequencer.shotcaller_redo"
    bl_label = "Redo Take"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        deferred.poll_warm_up(context)
        strip = _shot_strip(context)
        return strip is not None and strip.shotcaller.status not in {"QUEUED", "RUNNING"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        shot = _shot_strip(context).shotcaller
        has_take = 0 <= shot.active_take < len(shot.takes)
        seed = shot.takes[shot.active_take].seed if has_take else shot.seed
        return _submit_again(self, context, seed, "Redoing the take")


class SEQUENCER_OT_shotcaller_variation(bpy.types.Operator):
    """Make a new take of the active shot with a new random seed (the shot's own seed is unchanged)"""

    bl_idname = "sequencer.shotcaller_variation"
    bl_label = "Variation"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return SEQUENCER_OT_shotcaller_redo.poll(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        used = {take.seed for take in _shot_strip(context).shotcaller.takes}
        seed = random_seed()
        while seed in used:  # a variation must differ from every take the shot already has
            seed = random_seed()
        return _submit_again(self, context, seed, "A variation")


CLASSES = (
    SEQUENCER_OT_shotcaller_take_use,
    SEQUENCER_OT_shotcaller_take_step,
    SEQUENCER_OT_shotcaller_take_jump,
    SEQUENCER_OT_shotcaller_take_reveal,
    SEQUENCER_OT_shotcaller_take_delete,
    SEQUENCER_OT_shotcaller_redo,
    SEQUENCER_OT_shotcaller_variation,
)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
