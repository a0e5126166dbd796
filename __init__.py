"""Shotcaller: route Video Sequencer shots to AI backends and place the takes on the timeline.

Only registration lives here. bpy is imported lazily so the pure core (shots,
routing, backends, jobs) can be imported and tested without Blender.
"""

import time

register_seconds = 0.0  # how long the last register() took (the benchmark reads it)


def register() -> None:
    global register_seconds
    start = time.perf_counter()
    from .addon import registration

    registration.register()
    register_seconds = time.perf_counter() - start


def unregister() -> None:
    from .addon import registration

    registration.unregister()
