"""Run a script the way `blender -b FILE.blend --python SCRIPT -- ARGS` does, with the `bpy` module.

There is no Blender program on these machines, only the bpy wheels, so tests and
the demo use this to drive batch.py through exactly the entry a user runs:
    python tools/blender_run.py FILE.blend SCRIPT.py -- --quality draft
The exit code is the script's.
"""

from __future__ import annotations

import os
import runpy
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    blend, script = os.path.abspath(argv[0]), os.path.abspath(argv[1])
    rest = argv[2:]
    import bpy

    bpy.ops.wm.open_mainfile(filepath=blend)
    sys.argv = ["blender", "-b", blend, "--python", script, *rest]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
