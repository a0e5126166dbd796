"""Sidebar panels: each module registers its own classes."""

from __future__ import annotations

from . import shot

MODULES = (shot,)


def register() -> None:
    for module in MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(MODULES):
        module.unregister()
