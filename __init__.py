"""Shotcaller: route Video Sequencer shots to AI backends and place the takes on the timeline.

Only registration lives here. bpy is imported lazily so the pure core (shots,
routing, backends, jobs) can be imported and tested without Blender.
"""


def register() -> None:
    from . import addon

    addon.register()


def unregister() -> None:
    from . import addon

    addon.unregister()
