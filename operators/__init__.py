"""Operators: each module registers its own classes."""

from __future__ import annotations

from . import generate

MODULES = (generate,)


def register() -> None:
    for module in MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(MODULES):
        module.unregister()
