"""Benchmarks (development only; excluded from the built extension). `python -m bench.routing`.

The repository root is the package `shotcaller` (its __init__ registers Blender
classes lazily), so, as in tests/conftest.py, the package is created here with its
path pointing at the root and nothing of Blender is imported.
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
    sys.path.insert(0, REPO_ROOT)  # devservers/, for the failover benchmark's reference servers
