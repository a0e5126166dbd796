"""Add-on preferences: the backend pools, where takes go, and the service keys.

Keys live in Blender's user preferences only (never in a .blend), and the
plain `Settings` copy handed to the core hides them from repr and logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ..panels.details import region_chars, wrapped
from ..sequencer import compat
from .credentials import CLASSES as CREDENTIAL_CLASSES
from .credentials import SHOTCALLER_PG_credentials, credential_options, draw_credentials

if TYPE_CHECKING:
    from ..routing.registry import InstanceConfig

ADDON_PACKAGE = (__package__ or "shotcaller.settings").rpartition(".")[0]  # the add-on's own package name
DEFAULT_COMFYUI_URL = "http://127.0.0.1:8188"
DEFAULT_OUTPUT_FOLDER = "//shotcaller_takes"
DEFAULT_URLS = {
    "comfyui": DEFAULT_COMFYUI_URL,
    "wan2gp": "http://127.0.0.1:7866/mcp/",
    "litellm": "http://127.0.0.1:4000",
}
KIND_ITEMS = [
    ("comfyui", "ComfyUI", "A ComfyUI server (workflow templates)"),
    ("wan2gp", "Wan2GP", "A Wan2GP server through its MCP endpoint"),
    ("litellm", "LiteLLM", "A LiteLLM proxy (language models, cloud images and video)"),
]
LOCALITY_ITEMS = [
    ("AUTO", "From URL", "Loopback is this machine, private addresses the local network, the rest cloud"),
    ("LOCAL", "Local", "One of the studio's own machines"),
    ("CLOUD", "Cloud", "A paid or shared service off the premises"),
]


@dataclass(frozen=True)
class Settings:
    """A plain copy of the preferences, safe to keep outside the main thread."""

    comfyui_url: str = DEFAULT_COMFYUI_URL
    template_folder: str = ""
    output_folder: str = DEFAULT_OUTPUT_FOLDER
    jobs_per_server: int = 1
    instances: tuple[InstanceConfig, ...] = field(default=(), repr=False)  # may carry keys
    writing_model: str = "gpt-4o-mini"
    transcription_model: str = "whisper-1"


@dataclass(frozen=True)
class LanguageService:
    """Where the writing tools and transcription send their requests: a LiteLLM proxy."""

    url: str
    api_key: str = field(default="", repr=False)
    is_local: bool = False  # the models behind it run on the studio's own machines
    writing_model: str = ""
    transcription_model: str = ""


def parse_media_models(text: str) -> list[dict[str, str]]:
    """'gpt-image-1=image/final, sora-2=video' -> CloudModel settings; bad entries are named by the backend."""
    models = []
    for entry in text.replace("\n", ",").split(","):
        name, _, kind = entry.strip().partition("=")
        if not name.strip():
            continue
        media, _, quality = kind.strip().partition("/")
        model = {"name": name.strip(), "media": media.strip() or "image"}
        if quality.strip():
            model["quality"] = quality.strip()
        models.append(model)
    return models


CREDENTIAL_KINDS = ("comfyui", "wan2gp")  # LiteLLM has its API key
TEST_ITEMS = [
    ("NONE", "Not tested", ""),
    ("RUNNING", "Testing", ""),
    ("OK", "Reachable", ""),
    ("FAILED", "Not reachable", ""),
    ("REFUSED", "Credentials refused", ""),  # it answered 401/403: reachable, the entry's access is wrong
]
TEST_ICONS = {"NONE": "NETWORK_DRIVE", "RUNNING": "TIME", "OK": "CHECKMARK", "FAILED": "ERROR", "REFUSED": "LOCKED"}


class SHOTCALLER_PG_instance(bpy.types.PropertyGroup):
    """One backend server in a pool."""

    enabled: BoolProperty(name="Enabled", default=True)
    kind: EnumProperty(name="Kind", items=KIND_ITEMS, default="comfyui")
    name: StringProperty(name="Name", description="How the instance is called in routing reasons (e.g. gpu-box-2)")
    url: StringProperty(name="URL", default=DEFAULT_COMFYUI_URL)
    slots: IntProperty(name="Jobs at once", default=1, min=1, max=32, description="How many shots it generates at once")
    rate_limit_per_minute: IntProperty(name="Jobs per minute", default=0, min=0, description="0: no limit")
    vram_gb: FloatProperty(name="VRAM (GB)", default=0.0, min=0.0, description="0: ask the server")
    cost_per_second: FloatProperty(name="Cost per second", default=0.0, min=0.0)
    cost_per_shot: FloatProperty(name="Cost per shot", default=0.0, min=0.0)
    locality: EnumProperty(name="Where", items=LOCALITY_ITEMS, default="AUTO")
    api_key: StringProperty(name="API key", subtype="PASSWORD", description="Kept in your preferences, never in files")
    template_folder: StringProperty(name="Templates", subtype="DIR_PATH", description="Extra ComfyUI templates")
    credentials: PointerProperty(type=SHOTCALLER_PG_credentials)  # token, basic auth, headers (settings/credentials.py)
    test_state: EnumProperty(name="Test", items=TEST_ITEMS, default="NONE", options={"SKIP_SAVE"})
    test_report: StringProperty(name="Test result", description="What the last Test found", options={"SKIP_SAVE"})
    test_token: StringProperty(options={"HIDDEN", "SKIP_SAVE"})  # finds this entry again when its test ends
    # The transport policy's per-server limits (backends/policy.py); `min` refuses what cannot work.
    job_minutes: FloatProperty(
        name="Job deadline (min)", default=240.0, min=1.0, description="A job not finished by then is cancelled"
    )
    max_download_mb: IntProperty(name="Max download (MB)", default=4096, min=1, description="Largest file taken")
    max_answer_mb: IntProperty(name="Max answer (MB)", default=8, min=1, description="Largest JSON or text answer")
    models: StringProperty(
        name="Media models",
        description="LiteLLM image and video models, comma-separated as name=media/quality "
        "(e.g. gpt-image-1=image/final, sora-2=video/final); a name with * allows every model the proxy "
        "lists under it (sora-*=video/final)",
    )


class SHOTCALLER_UL_instances(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):  # type: ignore[no-untyped-def]
        row = layout.row(align=True)
        row.prop(item, "enabled", text="")
        row.label(text=item.name or item.url, icon=TEST_ICONS.get(item.test_state, "NETWORK_DRIVE"))
        row.label(text=dict((k, n) for k, n, _ in KIND_ITEMS)[item.kind])


class PREFERENCES_OT_shotcaller_instance_add(bpy.types.Operator):
    """Add a backend server to the pool"""

    bl_idname = "preferences.shotcaller_instance_add"
    bl_label = "Add Server"
    bl_options = {"INTERNAL"}

    kind: EnumProperty(name="Kind", items=KIND_ITEMS, default="comfyui")

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = context.preferences.addons[ADDON_PACKAGE].preferences
        instance = prefs.instances.add()
        instance.kind, instance.url = self.kind, DEFAULT_URLS[self.kind]
        prefs.active_instance = len(prefs.instances) - 1
        return {"FINISHED"}


class PREFERENCES_OT_shotcaller_instance_remove(bpy.types.Operator):
    """Remove the selected server from the pool"""

    bl_idname = "preferences.shotcaller_instance_remove"
    bl_label = "Remove Server"
    bl_options = {"INTERNAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = context.preferences.addons[ADDON_PACKAGE].preferences
        if 0 <= prefs.active_instance < len(prefs.instances):
            prefs.instances.remove(prefs.active_instance)
            prefs.active_instance = min(prefs.active_instance, len(prefs.instances) - 1)
        return {"FINISHED"}


def _status_colours_changed(prefs: ShotcallerPreferences, _context: bpy.types.Context) -> None:
    from ..sequencer import status_colours

    status_colours.show_all(prefs.status_colours)


def _first_comfyui(prefs: Any) -> Any:
    return next((item for item in prefs.instances if item.kind == "comfyui"), None)


def _first_comfyui_url(prefs: Any) -> str:
    item = _first_comfyui(prefs)
    return str(item.url) if item is not None else DEFAULT_COMFYUI_URL


def _ensure_first_comfyui(prefs: Any) -> Any:
    item = _first_comfyui(prefs)
    if item is None:
        item = prefs.instances.add()
        item.kind, item.url = "comfyui", DEFAULT_COMFYUI_URL
        prefs.instances.move(len(prefs.instances) - 1, 0)
        item = prefs.instances[0]
    return item


def _set_first_comfyui_url(prefs: Any, value: str) -> None:
    _ensure_first_comfyui(prefs).url = value


def _first_comfyui_slots(prefs: Any) -> int:
    item = _first_comfyui(prefs)
    return int(item.slots) if item is not None else 1


def _set_first_comfyui_slots(prefs: Any, value: int) -> None:
    _ensure_first_comfyui(prefs).slots = value


def migrate_single_url(prefs: Any) -> bool:
    """Older versions kept one ComfyUI address (and its 'Jobs per server') apart from the list: make it the
    list's first entry, once. Their stored values outlive the properties that now alias the list."""
    storage = compat.stored_properties(prefs)
    if storage is None:
        return False
    url, jobs = storage.get("comfyui_url"), storage.get("jobs_per_server")
    for key in ("comfyui_url", "jobs_per_server"):
        if key in storage:
            del storage[key]
    if not isinstance(url, str) or not url.strip() or _first_comfyui(prefs) is not None:
        return False
    item = _ensure_first_comfyui(prefs)
    item.url = url.strip()
    if isinstance(jobs, int) and jobs > 0:
        item.slots = jobs
    return True


class ShotcallerPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    # The first ComfyUI server of the list under its old names, for scripts and older setups: the
    # list is the one place servers are set (an empty list means ComfyUI at DEFAULT_COMFYUI_URL).
    comfyui_url: StringProperty(
        name="ComfyUI URL",
        description="The first ComfyUI server of the list (setting it adds one when there is none)",
        get=_first_comfyui_url,
        set=_set_first_comfyui_url,
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
        options=compat.BLEND_RELATIVE_PATH,
        description="Where generated files go; // means next to the .blend file",
    )
    jobs_per_server: IntProperty(
        name="Jobs at once",
        min=1,
        max=32,
        description="How many shots the first ComfyUI server generates at once (its 'Jobs at once')",
        get=_first_comfyui_slots,
        set=_set_first_comfyui_slots,
    )
    instances: CollectionProperty(type=SHOTCALLER_PG_instance)
    active_instance: IntProperty(default=0)
    status_colours: BoolProperty(
        name="Status colours on shot strips",
        default=True,
        description="Show each shot's status on the timeline through its strip's colour tag "
        "(off: strips keep their own colour tag)",
        update=_status_colours_changed,
    )
    writing_model: StringProperty(
        name="Writing model", default="gpt-4o-mini", description="LiteLLM model for prompt enhancement and scripts"
    )
    transcription_model: StringProperty(
        name="Transcription model", default="whisper-1", description="LiteLLM model that turns speech into subtitles"
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        column = layout.column()
        column.prop(self, "output_folder")
        column.prop(self, "template_folder")
        column.prop(self, "status_colours")
        column.separator()
        column.label(text="Servers (several per kind make a pool, balanced by load)")
        row = column.row()
        row.template_list("SHOTCALLER_UL_instances", "", self, "instances", self, "active_instance", rows=3)
        buttons = row.column(align=True)
        for kind, label, _ in KIND_ITEMS:
            buttons.operator("preferences.shotcaller_instance_add", text=label, icon="ADD").kind = kind
        buttons.operator("preferences.shotcaller_instance_remove", text="", icon="REMOVE")
        if not len(self.instances):
            column.label(text=f"No servers yet: Shotcaller uses ComfyUI at {DEFAULT_COMFYUI_URL}", icon="INFO")
        elif 0 <= self.active_instance < len(self.instances):
            item = self.instances[self.active_instance]
            box = column.box()
            for prop in ("name", "kind", "url"):
                box.prop(item, prop)
            _draw_address_note(box, item, region_chars(context))
            test = box.row()
            test.operator(
                "preferences.shotcaller_instance_test", text="Test", icon="PLUGIN"
            ).index = self.active_instance
            test.label(text=item.bl_rna.properties["test_state"].enum_items[item.test_state].name)
            for line in item.test_report.splitlines():
                wrapped(box, line, region_chars(context))
            for prop in ("slots", "rate_limit_per_minute", "vram_gb", "locality"):
                box.prop(item, prop)
            limits = box.row(align=True)
            for prop in ("job_minutes", "max_download_mb", "max_answer_mb"):
                limits.prop(item, prop)
            costs = box.row(align=True)
            costs.prop(item, "cost_per_second")
            costs.prop(item, "cost_per_shot")
            if item.kind == "litellm":
                box.prop(item, "api_key")
                box.prop(item, "models")
            if item.kind == "comfyui":
                box.prop(item, "template_folder")
            if item.kind in CREDENTIAL_KINDS:
                draw_credentials(box, item, self.active_instance)
        column.separator()
        column.label(text="Writing tools and subtitles (through the first LiteLLM server)")
        column.prop(self, "writing_model")
        column.prop(self, "transcription_model")
        if not bpy.app.online_access:
            column.label(text="Online access is off: only servers on this machine are used", icon="INFO")
        _draw_template_problems(column, region_chars(context))


def _draw_address_note(layout: bpy.types.UILayout, item: SHOTCALLER_PG_instance, width: int) -> None:
    """Say so when the address has a path or fragment Shotcaller drops (a browser's or an endpoint's address)."""
    from ..backends.urls import UnsafeURL, server_root

    try:
        note = server_root(item.url, item.kind)[1]
    except UnsafeURL as exc:
        note = str(exc)
    if note:
        wrapped(layout, note, width, icon="INFO")


def _draw_template_problems(layout: bpy.types.UILayout, width: int) -> None:
    from ..addon.lazy import current_session

    session = current_session()
    if session is None:
        return
    for problem in session.problems():
        wrapped(layout, problem, width, icon="ERROR")


def _instance_config(item: SHOTCALLER_PG_instance) -> InstanceConfig:
    from ..routing.registry import InstanceConfig  # the core: imported on first use, not at register

    options: dict[str, Any] = {
        "job_minutes": item.job_minutes,
        "max_download_mb": item.max_download_mb,
        "max_answer_mb": item.max_answer_mb,
    }
    if item.api_key:
        options["api_key"] = item.api_key
    if item.template_folder:
        options["template_folder"] = bpy.path.abspath(item.template_folder)
    if item.kind == "litellm" and item.models.strip():
        options["models"] = parse_media_models(item.models)
    if item.kind in CREDENTIAL_KINDS:
        options.update(credential_options(item))
    return InstanceConfig(
        kind=item.kind,
        name=item.name.strip(),
        url=item.url.strip(),
        slots=item.slots,
        rate_limit_per_minute=item.rate_limit_per_minute,
        vram_gb=item.vram_gb,
        cost_per_second=item.cost_per_second,
        cost_per_shot=item.cost_per_shot,
        is_local=None if item.locality == "AUTO" else item.locality == "LOCAL",
        enabled=item.enabled,
        options=options,
    )


def current_settings(context: bpy.types.Context | None = None) -> Settings:
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_PACKAGE)
    if addon is None or addon.preferences is None:  # registered without addon_utils (tests, scripts)
        return Settings()
    prefs = addon.preferences
    return Settings(
        comfyui_url=prefs.comfyui_url,  # the first ComfyUI of the list, or the default when the list is empty
        template_folder=prefs.template_folder,
        output_folder=prefs.output_folder,
        jobs_per_server=prefs.jobs_per_server,
        instances=tuple(_instance_config(item) for item in prefs.instances),
        writing_model=prefs.writing_model.strip(),
        transcription_model=prefs.transcription_model.strip(),
    )


def language_service(context: bpy.types.Context | None = None) -> LanguageService | None:
    """The first enabled LiteLLM server, with the models to ask, or None when there is none to write with.

    Read from the preferences themselves, not through current_settings: the writing tools ask on the
    main thread, and every server's InstanceConfig imports the routing core (pydantic among it)."""
    addon = (context or bpy.context).preferences.addons.get(ADDON_PACKAGE)
    if addon is None or addon.preferences is None:
        return None
    prefs = addon.preferences
    for item in prefs.instances:
        url = item.url.strip()
        if item.kind == "litellm" and item.enabled and url:
            return LanguageService(
                url,
                item.api_key,
                is_local=item.locality == "LOCAL",
                writing_model=prefs.writing_model.strip(),
                transcription_model=prefs.transcription_model.strip(),
            )
    return None


CLASSES = (
    *CREDENTIAL_CLASSES,  # before the instance group, which points to them
    SHOTCALLER_PG_instance,
    SHOTCALLER_UL_instances,
    PREFERENCES_OT_shotcaller_instance_add,
    PREFERENCES_OT_shotcaller_instance_remove,
    ShotcallerPreferences,
)
_register_classes, unregister = bpy.utils.register_classes_factory(CLASSES)


def register() -> None:
    _register_classes()  # type: ignore[has-type]
    addon = bpy.context.preferences.addons.get(ADDON_PACKAGE)
    if addon is not None and addon.preferences is not None:
        migrate_single_url(addon.preferences)
