"""Add-on preferences: where the services are and where takes go."""

from __future__ import annotations

from dataclasses import dataclass

import bpy
from bpy.props import IntProperty, StringProperty

ADDON_PACKAGE = __package__ or "shotcaller"
DEFAULT_COMFYUI_URL = "http://127.0.0.1:8188"
DEFAULT_OUTPUT_FOLDER = "//shotcaller_takes"


@dataclass(frozen=True)
class Settings:
    """A plain copy of the preferences, safe to keep outside the main thread."""

    comfyui_url: str = DEFAULT_COMFYUI_URL
    template_folder: str = ""
    output_folder: str = DEFAULT_OUTPUT_FOLDER
    jobs_per_server: int = 1


class ShotcallerPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    comfyui_url: StringProperty(
        name="ComfyUI URL",
        default=DEFAULT_COMFYUI_URL,
        description="Address of a ComfyUI server. Addresses off this machine need Blender's online access",
    )
    template_folder: StringProperty(
        name="Extra templates",
        subtype="DIR_PATH",
        description="A folder of your own ComfyUI templates (*.binding.json beside API-format workflows)",
    )
    output_folder: StringProperty(
        name="Takes folder",
        default=DEFAULT_OUTPUT_FOLDER,
        subtype="DIR_PATH",
        description="Where generated files go; // means next to the .blend file",
    )
    jobs_per_server: IntProperty(
        name="Jobs per server",
        default=1,
        min=1,
        max=16,
        description="How many shots one server generates at once",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        column = layout.column()
        column.prop(self, "comfyui_url")
        column.prop(self, "template_folder")
        column.prop(self, "output_folder")
        column.prop(self, "jobs_per_server")
        if not bpy.app.online_access:
            column.label(text="Online access is off: only servers on this machine are used", icon="INFO")


def current_settings(context: bpy.types.Context | None = None) -> Settings:
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_PACKAGE)
    if addon is None or addon.preferences is None:  # registered without addon_utils (tests, scripts)
        return Settings()
    prefs = addon.preferences
    return Settings(
        comfyui_url=prefs.comfyui_url,
        template_folder=prefs.template_folder,
        output_folder=prefs.output_folder,
        jobs_per_server=prefs.jobs_per_server,
    )


def register() -> None:
    bpy.utils.register_class(ShotcallerPreferences)


def unregister() -> None:
    bpy.utils.unregister_class(ShotcallerPreferences)
