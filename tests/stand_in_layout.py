"""Draw a Blender panel headless (there is no region): a stand-in UILayout records what it shows."""

from __future__ import annotations

import types
from typing import Any


class Layout:
    """Stands in for a panel's UILayout: records labels (their text) and buttons (`[bl_idname]`)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Layout:
            if name == "label":
                self.lines.append(kwargs.get("text", ""))
            elif name == "operator":
                self.lines.append(f"[{args[0]}]")
            return Layout(self.lines)

        return call


def draw(owner_class: Any, context: Any, **attributes: Any) -> str:
    """What `owner_class.draw` (a panel's, or an operator's popup) shows, one line per label or button.

    The class's own helpers (methods starting with `_`) are bound to the stand-in, as are `attributes`
    (an operator's properties, say)."""
    lines: list[str] = []
    owner = types.SimpleNamespace(layout=Layout(lines), **attributes)
    for attribute in dir(owner_class):
        value = getattr(owner_class, attribute, None)
        if attribute.startswith("_") and not attribute.startswith("__") and isinstance(value, types.FunctionType):
            setattr(owner, attribute, types.MethodType(value, owner))
    owner_class.draw(owner, context)
    return "\n".join(lines)
