"""Sequencer > Sidebar > Shotcaller: the project's routing wishes and how each backend is doing."""

from __future__ import annotations

import json

import bpy

from ..addon.lazy import current_session
from ..sequencer import compat
from .details import region_chars, wrapped


class SEQUENCER_PT_shotcaller_project(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Shotcaller"
    bl_label = "Project"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        scene = compat.sequencer_scene(context)
        if scene is None:
            return
        project = scene.shotcaller_project
        column = self.layout.column()
        column.prop(project, "force_local")
        row = column.row()
        row.active = not project.force_local
        row.prop(project, "allow_cloud")
        column.prop(project, "budget")
        spent_line(column, project)
        if project.allow_cloud and not project.force_local and not bpy.app.online_access:
            column.label(text="Cloud needs Blender's online access", icon="INFO")


def spent_line(layout: bpy.types.UILayout, project: bpy.types.PropertyGroup) -> None:
    """Spending per backend, as the services reported it (kept in the .blend and the project's journal)."""
    try:
        per_backend = json.loads(project.spent_by_backend or "{}")
    except ValueError:
        per_backend = {}
    if not per_backend and not project.spent:
        return
    left = f", {max(0.0, project.budget - project.spent):.2f} left" if project.budget > 0 else ""
    layout.label(text=f"Spent {project.spent:.2f}{left}", icon="FUND")
    for kind, amount in sorted(per_backend.items()):
        layout.label(text=f"  {kind}: {float(amount):.2f}")


class SEQUENCER_PT_shotcaller_backends(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Shotcaller"
    bl_label = "Backends"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        session = current_session()
        if session is None:
            layout.label(text="Backends start with the first generation")
            return
        width = region_chars(context)
        shown: list[str] = []
        for report in session.fleet_status():
            status = report.status
            box = layout.box()
            icon = "CHECKMARK" if report.breaker == "closed" else "ERROR"
            # The name already says the kind ("ComfyUI on gpu-box-2").
            wrapped(box, f"{status.name} ({status.locality})", width, icon=icon)
            load = f"{report.in_flight}/{status.slots} running"
            if status.queue_depth is not None:
                load += f", {status.queue_depth} on the server"
            box.label(text=load)
            if status.vram_free_gb is not None:
                box.label(text=f"{status.vram_free_gb:.1f} of {status.vram_total_gb or 0:.1f} GB free")
            said = ""
            if report.breaker != "closed":
                said = report.breaker_reason
                wrapped(box, said, width)
            if status.probe_error:
                # A server that refused the probe is often set aside for the same reason, in the same words.
                if status.probe_error not in said:
                    wrapped(box, status.probe_error, width)
                shown.append(status.probe_error)
        for problem in session.problems():  # the failed probes among them are in their server's box above
            if not any(problem.endswith(f": {error}") for error in shown):
                wrapped(layout, problem, width, icon="ERROR")


CLASSES = (SEQUENCER_PT_shotcaller_project, SEQUENCER_PT_shotcaller_backends)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
