"""A server's access in its preferences entry: a bearer token, basic auth, any number of custom
headers, and (ComfyUI) the comfy.org API key for its API nodes.

Stored with Blender's preferences, never in a .blend; every secret field is a PASSWORD property, so
the UI masks it. `credential_options` hands them to the core as plain options (backends/credentials.py
turns them into the headers sent to that server's origin only).
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import CollectionProperty, IntProperty, StringProperty

SECRET = "Kept in your preferences, never in a .blend file, a log or a report"


class SHOTCALLER_PG_header(bpy.types.PropertyGroup):
    """One custom header a server wants on every request (an access gateway's service token)."""

    name: StringProperty(name="Header", description="The header's name, e.g. CF-Access-Client-Id")
    value: StringProperty(name="Value", subtype="PASSWORD", description=SECRET)


class SHOTCALLER_PG_credentials(bpy.types.PropertyGroup):
    """What a server behind a proxy, a tunnel or an account asks for. Empty: nothing is sent."""

    bearer_token: StringProperty(
        name="Token", subtype="PASSWORD", description="Sent as 'Authorization: Bearer <token>'. " + SECRET
    )
    basic_user: StringProperty(name="User", description="HTTP basic auth (a password-protected proxy)")
    basic_password: StringProperty(name="Password", subtype="PASSWORD", description="HTTP basic auth. " + SECRET)
    headers: CollectionProperty(type=SHOTCALLER_PG_header)
    comfy_api_key: StringProperty(
        name="comfy.org API key",
        subtype="PASSWORD",
        description="The account key ComfyUI's API nodes (paid services through comfy.org) need; sent with"
        " the prompt, to this server only. " + SECRET,
    )


def _entry(context: bpy.types.Context, index: int) -> Any:
    from .preferences import ADDON_PACKAGE

    addon = context.preferences.addons.get(ADDON_PACKAGE)
    instances = addon.preferences.instances if addon is not None and addon.preferences is not None else ()
    return instances[index] if 0 <= index < len(instances) else None


class PREFERENCES_OT_shotcaller_header_add(bpy.types.Operator):
    """Add a header this server wants on every request"""

    bl_idname = "preferences.shotcaller_header_add"
    bl_label = "Add Header"
    bl_options = {"INTERNAL"}

    index: IntProperty(name="Server", default=0, min=0)

    def execute(self, context: bpy.types.Context) -> set[str]:
        item = _entry(context, self.index)
        if item is None:
            self.report({"ERROR"}, "There is no such server in the list.")
            return {"CANCELLED"}
        item.credentials.headers.add()
        return {"FINISHED"}


class PREFERENCES_OT_shotcaller_header_remove(bpy.types.Operator):
    """Remove this header"""

    bl_idname = "preferences.shotcaller_header_remove"
    bl_label = "Remove Header"
    bl_options = {"INTERNAL"}

    index: IntProperty(name="Server", default=0, min=0)
    header: IntProperty(name="Header", default=0, min=0)

    def execute(self, context: bpy.types.Context) -> set[str]:
        item = _entry(context, self.index)
        if item is None or not self.header < len(item.credentials.headers):
            self.report({"ERROR"}, "There is no such header.")
            return {"CANCELLED"}
        item.credentials.headers.remove(self.header)
        return {"FINISHED"}


def draw_credentials(layout: bpy.types.UILayout, item: Any, index: int) -> None:
    """The access box of a ComfyUI or Wan2GP entry; secrets are drawn masked (PASSWORD)."""
    from ..backends.credentials import environment_prefix

    credentials = item.credentials
    box = layout.box()
    box.label(text="Access (a server behind a proxy, a tunnel or an account)", icon="LOCKED")
    box.prop(credentials, "bearer_token")
    basic = box.row(align=True)
    basic.prop(credentials, "basic_user")
    basic.prop(credentials, "basic_password")
    for number, header in enumerate(credentials.headers):
        row = box.row(align=True)
        row.prop(header, "name", text="")
        row.prop(header, "value", text="")
        remove = row.operator("preferences.shotcaller_header_remove", text="", icon="X")
        remove.index, remove.header = index, number
    box.operator("preferences.shotcaller_header_add", icon="ADD").index = index
    if item.kind == "comfyui":
        box.prop(credentials, "comfy_api_key")
    name = item.name.strip() or "NAME"
    box.label(text=f"Headless: ${environment_prefix(name)}TOKEN, _USER, _PASSWORD, _HEADERS", icon="CONSOLE")


def credential_options(item: Any) -> dict[str, Any]:
    """The entry's credentials as core options (only what is set)."""
    credentials = item.credentials
    options: dict[str, Any] = {}
    for field in ("bearer_token", "basic_user", "basic_password", "comfy_api_key"):
        value = getattr(credentials, field)
        if value:
            options[field] = value
    headers = [(h.name, h.value) for h in credentials.headers if h.name.strip() or h.value.strip()]
    if headers:
        options["headers"] = headers
    return options


# Registered before the instance group, which holds a pointer to SHOTCALLER_PG_credentials.
CLASSES = (
    SHOTCALLER_PG_header,
    SHOTCALLER_PG_credentials,
    PREFERENCES_OT_shotcaller_header_add,
    PREFERENCES_OT_shotcaller_header_remove,
)
