"""Make the repository importable as the package `shotcaller` without running its __init__.

The repository root is the Blender extension itself, so its __init__.py registers
Blender classes. Core tests need only the pure modules (shots, routing, backends,
jobs), so the package is created empty here with its path pointing at the root.
"""

from __future__ import annotations

import os
import sys
import types

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if "shotcaller" not in sys.modules:
    package = types.ModuleType("shotcaller")
    package.__path__ = [REPO_ROOT]
    package.__file__ = os.path.join(REPO_ROOT, "__init__.py")
    sys.modules["shotcaller"] = package

if REPO_ROOT not in sys.path:
    # devservers/ is a development-only top-level package started with `python -m devservers.X`.
    sys.path.insert(0, REPO_ROOT)

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    # shared test helpers (backend_doubles) live beside this file
    sys.path.insert(0, TESTS_DIR)
