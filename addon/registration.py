"""Registration of every Blender-facing module, in order. Called from the package's __init__."""

from __future__ import annotations

import bpy

from ..mainthread import previews
from ..operators import enhance, generate, language, script, server_test, shots, takes, transcribe
from ..panels import backends, shot
from ..panels import shots as shots_panel
from ..panels import writing as writing_panel
from ..sequencer import index as strip_index
from ..settings import preferences, properties
from . import lazy
from .handlers import on_load_post

# properties registers the scene and strip properties every later module uses; language registers
# the report operator that enhance, script and transcribe use for answers that arrive late.
MODULES = (
    preferences,
    server_test,
    properties,
    strip_index,
    generate,
    takes,
    shots,
    language,
    enhance,
    script,
    transcribe,
    shot,
    shots_panel,
    writing_panel,
    backends,
)


def register() -> None:
    for module in MODULES:
        module.register()
    bpy.app.handlers.load_post.append(on_load_post)


def unregister() -> None:
    if on_load_post in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(on_load_post)
    # A timer or class left registered makes Blender 4.2 crash and 4.5 hang at exit.
    pump, session = lazy.loaded("mainthread.pump"), lazy.loaded("jobs.session")  # never imported: nothing to stop
    if pump is not None:
        pump.stop_timer()
    if session is not None:
        session.close_session()
    previews.clear()
    for module in reversed(MODULES):
        module.unregister()
