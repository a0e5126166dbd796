"""Keeping Python's full garbage collections out of the way of Blender's frames.

A full collection walks every object the interpreter tracks. Inside Blender that is some 70,000
objects before any work starts (its RNA types and wrappers, every add-on's modules), and walking
them takes 70-75 ms on a 2-core machine (as many plain dicts: 2.4 ms). CPython starts a full
collection whenever the objects that survived into the oldest generation grow by a quarter, and
submitting a thousand shots does that several times over: each is a UI freeze of 75-115 ms,
whichever thread sets it off (the collector holds the interpreter lock).

`gc.freeze()` moves every object alive at that moment into the permanent generation, which
collections skip; objects made later are collected as before. Called once, when the first session
starts: by then what is alive is modules, types and schemas that live as long as Blender does.
Cyclic garbage frozen with them would never be freed, so the young generations are collected
first (their objects are few: a millisecond or two).
"""

from __future__ import annotations

import atexit
import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_long_lived() -> bool:
    """Move what is alive now out of every later collection's walk, once per process. Returns
    whether this call froze them."""
    global _frozen
    with _lock:
        if _frozen:
            return False
        gc.collect(1)
        gc.freeze()
        # Blender 4.2 and 4.5 crash or hang at exit when objects they free while Python shuts down
        # are still frozen (measured: the headless batch ends rc -11 on 4.2, never ends on 4.5;
        # 5.x does not mind). Thawed first, they are freed as they always were.
        atexit.register(gc.unfreeze)
        _frozen = True
        return True
