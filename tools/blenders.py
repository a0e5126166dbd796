#!/usr/bin/env python3
"""The Blender versions Shotcaller supports and tests, and the Python each one runs (stdlib only).

    python3 tools/blenders.py stages      # blender-4.2 blender-4.5 ... (the test stages, oldest first)
    python3 tools/blenders.py pythons     # 3.11 3.13 (every Python the bundled wheels must cover)
    python3 tools/blenders.py newest      # 5.3
    python3 tools/blenders.py table       # a readable table

This table is the one place that knows them. The bundled wheels (tools/wheels.py) cover every Python
in it, the bpy test venvs (tools/venvs.py), the Blender test stages (tools/test.sh) and the demo's
Blender come from it. Adding the next Blender is one line below; its test-side pins come from the
requirements file of its Python (tools/requirements-bpy-tests-py<X.Y>.txt).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Blender:
    series: str  # "5.3": the test stage is blender-<series>, the venv bpy-<series>
    bpy: str  # the PyPI `bpy` module release that stands in for it in tests
    python: str  # the Python that Blender series embeds
    lts: bool = False

    @property
    def stage(self) -> str:
        return f"blender-{self.series}"

    @property
    def venv(self) -> str:
        return f"bpy-{self.series}"

    @property
    def label(self) -> str:
        return f"{self.series} LTS" if self.lts else self.series


BLENDERS: tuple[Blender, ...] = (
    Blender("4.2", bpy="4.2.23", python="3.11", lts=True),
    Blender("4.5", bpy="4.5.15", python="3.11", lts=True),
    Blender("5.0", bpy="5.0.1", python="3.11"),
    Blender("5.1", bpy="5.1.2", python="3.13"),
    Blender("5.2", bpy="5.2.3", python="3.13", lts=True),
    Blender("5.3", bpy="5.3.0", python="3.13"),
)


def by_series(series: str) -> Blender:
    for blender in BLENDERS:
        if blender.series == series:
            return blender
    raise KeyError(f"unknown Blender {series!r}; supported: {', '.join(b.series for b in BLENDERS)}")


def pythons() -> list[str]:
    """Every Python a supported Blender runs, oldest first."""
    return sorted({b.python for b in BLENDERS}, key=lambda v: tuple(int(p) for p in v.split(".")))


def newest() -> Blender:
    return BLENDERS[-1]


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "table"
    if what == "stages":
        print(" ".join(b.stage for b in BLENDERS))
    elif what == "series":
        print(" ".join(b.series for b in BLENDERS))
    elif what == "pythons":
        print(" ".join(pythons()))
    elif what == "newest":
        print(newest().series)
    elif what == "table":
        for b in BLENDERS:
            print(f"{b.label:9} bpy=={b.bpy:8} Python {b.python}")
    else:
        print(f"blenders.py: unknown command {what!r} (stages, series, pythons, newest, table)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
