"""The preferences' Test button: check one server in the background and say what it found."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import bpy
from bpy.props import IntProperty

from ..settings.preferences import ADDON_PACKAGE, _instance_config

if TYPE_CHECKING:
    from ..backends.server_check import ServerCheck


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
        # The core (the backend clients, the session) is imported when a server is tested, not at register.
        from ..backends.server_check import check_server
        from ..jobs import background
        from ..jobs.session import BackendSettings, build_instances
        from ..mainthread import pump

        prefs = _prefs(context)
        if prefs is None or not 0 <= self.index < len(prefs.instances):
            self.report({"ERROR"}, "There is no such server in the list.")
            return {"CANCELLED"}
        item = prefs.instances[self.index]
        config = _instance_config(item)
        settings = BackendSettings(
            template_folder=bpy.path.abspath(prefs.template_folder) if prefs.template_folder else "",
            online_access=bool(bpy.app.online_access),
            instances=(config,),
            probe_interval_seconds=0,
        )
        try:
            built, notes = build_instances(settings)
        except Exception as exc:  # a refused address (not loopback while offline, malformed): that is the finding
            item.test_state, item.test_report = "FAILED", str(exc)
            return {"FINISHED"}
        backend = built[0][0]
        token = uuid.uuid4().hex  # finds the same list entry again even if the list changed meanwhile
        item.test_token = token
        item.test_state, item.test_report = "RUNNING", "\n".join([*notes, f"Testing {backend.display_name}..."])

        def done(found: ServerCheck | None, error: BaseException | None) -> None:
            prefs_now = _prefs(bpy.context)
            target = next((i for i in getattr(prefs_now, "instances", ()) if i.test_token == token), None)
            if target is None:
                return  # removed from the list while it was being tested
            if error is not None or found is None:
                target.test_state, target.test_report = "FAILED", f"The test itself failed: {error}"
            else:
                target.test_state = "OK" if found.reachable else "REFUSED" if found.refused else "FAILED"
                target.test_report = "\n".join(notes + list(found.lines))
            _redraw_preferences()

        background.submit(lambda: check_server(backend), done)
        pump.ensure_timer()
        return {"FINISHED"}


CLASSES = (PREFERENCES_OT_shotcaller_instance_test,)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
