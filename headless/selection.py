"""Which shots a headless run generates: `--shots` names (exact, or any case), what is left out and why,
and `--list`."""

from __future__ import annotations

from typing import Any

from ..mainthread.submission import find_shot_strip, is_take_strip
from ..sequencer import compat
from ..shots import closest_name


class UnknownShot(ValueError):
    """A --shots name matches no strip of the scene; the message lists the names and the closest one."""


def shot_strips(scene: Any) -> list[Any]:
    strips = [s for s in compat.all_strips(scene.sequence_editor) if not is_take_strip(s)]
    return sorted(strips, key=lambda s: (compat.left_handle(s), s.channel, s.name))


def pick_strips(scene: Any, names: list[str] | None) -> tuple[list[Any], list[tuple[str, str]]]:
    """(the shots to generate, (name, why) for each one left out). Raises UnknownShot before anything runs."""
    everything = list(compat.all_strips(scene.sequence_editor))
    if names:
        candidates, unknown = [], []
        for name in names:
            found = next((s for s in everything if s.name == name), None)
            if found is None:
                same = [s for s in everything if s.name.casefold() == name.casefold()]
                found = same[0] if len(same) == 1 else None
            if found is None:
                unknown.append(name)
            elif found not in candidates:
                candidates.append(found)
        if unknown:
            raise UnknownShot(_unknown_message(scene, unknown))
    else:
        candidates = shot_strips(scene)
    picked, skipped = [], []
    for strip in candidates:
        why = skip_reason(scene, strip)
        if why:
            skipped.append((strip.name, why))
        else:
            picked.append(strip)
    return picked, skipped


def skip_reason(scene: Any, strip: Any) -> str:
    """Why `strip` is not generated ("" when it is)."""
    shot = strip.shotcaller
    if is_take_strip(strip):
        owner = find_shot_strip(scene, shot.take_of)
        return f"it is a take of shot '{owner.name}', not a shot" if owner is not None else "it is a take, not a shot"
    if not shot.prompt.strip():
        return "it has no prompt (write one in the sidebar's Shot panel)"
    if shot.media in {"audio", "music"} and not compat.HAS_AUDIO:
        return f"it is a {shot.media} shot and this Blender build has no audio support to place it"
    return ""


def _unknown_message(scene: Any, unknown: list[str]) -> str:
    names = [s.name for s in shot_strips(scene)]
    parts = []
    for name in unknown:
        closest = closest_name(name, names)
        parts.append(f"no shot named '{name}'" + (f" (closest: '{closest}')" if closest else ""))
    listed = ", ".join(f"'{name}'" for name in names) or "(none)"
    return f"{'; '.join(parts)} in scene '{scene.name}'. Its shots: {listed}. Nothing was generated."


def shot_list(scene: Any) -> list[str]:
    """--list: one line per shot with its frames, media, status and takes."""
    strips = shot_strips(scene)
    lines = [f"shotcaller: scene '{scene.name}': {len(strips)} strip(s) that are not takes"]
    for strip in strips:
        shot = strip.shotcaller
        status = shot.bl_rna.properties["status"].enum_items[shot.status].name
        count = len(shot.takes)
        takes = f"{count} take{'s' if count != 1 else ''}"
        if 0 <= shot.active_take < count:
            takes += f" (take {shot.active_take + 1} in the edit)"
        prompt = shot.prompt.strip() or "(no prompt: skipped)"
        frames = f"{compat.left_handle(strip)}-{compat.right_handle(strip) - 1}"
        lines.append(f"  {strip.name}: frames {frames}, {shot.media}, {status}, {takes}; {prompt}")
    return lines
