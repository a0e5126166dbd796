"""Headless entry point: blender -b film.blend --python <extension>/batch.py -- --quality draft

Blender runs this file as a script, not as part of the package, so it finds the
installed extension it belongs to, enables it if needed, and hands over to
`headless.main`. Options: `--help` after the `--`.
"""

from __future__ import annotations

import importlib
import os
import sys

import addon_utils
import bpy

HERE = os.path.dirname(os.path.abspath(__file__))


def _module_name() -> str:
    """The add-on module this file belongs to: bl_ext.<repo>.<id> for an installed extension."""
    for module_name, module in list(sys.modules.items()):
        module_file = getattr(module, "__file__", None) or ""
        if os.path.basename(module_file) == "__init__.py" and os.path.dirname(os.path.abspath(module_file)) == HERE:
            return module_name
    parent = os.path.dirname(HERE)
    for repo in bpy.context.preferences.extensions.repos:
        directory = repo.directory
        if directory and os.path.isdir(directory) and os.path.samefile(directory, parent):
            return f"bl_ext.{repo.module}.{os.path.basename(HERE)}"
    # Run from a source checkout: expose its parent folder as a local extensions repository.
    repo = bpy.context.preferences.extensions.repos.new(
        name="Shotcaller source", module="shotcaller_source", custom_directory=parent
    )
    return f"bl_ext.{repo.module}.{os.path.basename(HERE)}"


def _enable() -> tuple[object, str]:
    name = _module_name()
    if name not in bpy.context.preferences.addons:
        addon_utils.enable(name, default_set=True, handle_error=None)
    return importlib.import_module(f"{name}.headless.run"), name


def run() -> int:
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    headless, name = _enable()
    try:
        return int(headless.main(argv))  # type: ignore[attr-defined]
    finally:
        if not bpy.app.binary_path:
            # Running inside the `bpy` Python module, not the Blender program: classes left
            # registered at interpreter exit crash 4.2 and hang 4.5, so unregister them. The
            # add-on stays in the enabled set: dropping it makes Blender delete the extension's
            # wheels from the user folder other Blender sessions share.
            addon_utils.disable(name, default_set=False)


if __name__ == "__main__":
    sys.exit(run())
