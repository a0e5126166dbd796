"""A shot's takes on the timeline: exactly one is seen in the edit, the others are kept and muted.

A take is one unit on the timeline, found by the take id stored on it: today one movie, image or
sound strip, and for a take made of several segments a meta strip holding them, so muting or
unmuting that one strip switches the whole take. Main thread only.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import bpy

from ..settings.packed import pack
from . import compat, status_colours
from . import index as strip_index
from .timeline import PlacementError, picture_size, place_take

if TYPE_CHECKING:
    from ..jobs.events import JobSucceeded


def scene_of(shot: Any) -> Any:
    """The scene a shot's properties (a strip's `shotcaller`) belong to."""
    return shot.id_data


def take_strip(scene: Any, shot: Any, take: Any) -> Any | None:
    """The strip showing `take` of `shot`, or None when it was deleted from the edit."""
    if scene is None or scene.sequence_editor is None:
        return None
    strips = compat.all_strips(scene.sequence_editor)
    named = strips.get(take.strip_name) if take.strip_name else None
    if named is not None and _shows(named, shot, take):
        return named
    for strip in strips:  # renamed by the user: the take id on the strip still says which take it is
        if strip.shotcaller.take_id and strip.shotcaller.take_id == take.take_id:
            return strip
    return None


def _shows(strip: Any, shot: Any, take: Any) -> bool:
    props = strip.shotcaller
    if props.take_id:
        return bool(props.take_id == take.take_id)
    return bool(props.take_of and props.take_of == shot.shot_id)  # placed before take ids were stored


def show_active_take(shot: Any) -> None:
    """Unmute the active take's strip and mute every other take of the shot."""
    scene = scene_of(shot)
    for index, take in enumerate(shot.takes):
        strip = take_strip(scene, shot, take)
        if strip is not None:
            wanted = index != shot.active_take
            if strip.mute != wanted:
                strip.mute = wanted


def shot_of_take_strip(scene: Any, strip: Any) -> tuple[Any | None, int]:
    """(the shot strip, the take's index) for a take strip; (None, -1) when its shot is gone."""
    from ..mainthread.submission import find_shot_strip

    shot_strip = find_shot_strip(scene, strip.shotcaller.take_of)
    if shot_strip is None:
        return None, -1
    shot = shot_strip.shotcaller
    for index, take in enumerate(shot.takes):
        if take_strip(scene, shot, take) == strip:
            return shot_strip, index
    return shot_strip, -1


def step_index(count: int, active: int, direction: str) -> int:
    """The take after (NEXT) or before (PREVIOUS) the active one, wrapping around."""
    if count <= 0:
        return -1
    if active < 0 or active >= count:
        return 0 if direction == "NEXT" else count - 1
    return (active + (1 if direction == "NEXT" else -1)) % count


def absolute(path: str) -> str:
    return os.path.abspath(bpy.path.abspath(path)) if path else ""


def stored_path(path: str) -> str:
    """`//`-relative when the file lies under the saved .blend's folder, so the project can move."""
    if not bpy.data.filepath or not path:
        return path
    folder = os.path.dirname(os.path.abspath(bpy.data.filepath))
    absolute_path = os.path.abspath(path)
    try:
        inside = os.path.commonpath([folder, absolute_path]) == folder
    except ValueError:  # another drive on Windows
        return path
    return bpy.path.relpath(absolute_path) if inside else path


def _store_relative(strip: Any) -> None:
    """Point the take strip at its file `//`-relative when it lies under the .blend's folder.
    Only a path that changes is set: setting a movie's path makes Blender open the file again."""
    if strip.type == "META":  # a take made in segments: each segment's strip
        for inner in compat.top_strips(strip):
            _store_relative(inner)
    elif strip.type == "MOVIE":
        _set_if_changed(strip, "filepath", stored_path(absolute(strip.filepath)))
    elif strip.type == "IMAGE":
        directory = stored_path(absolute(strip.directory))
        _set_if_changed(strip, "directory", directory if directory.endswith(("/", "\\")) else directory + "/")
    elif strip.type == "SOUND" and strip.sound is not None:
        _set_if_changed(strip.sound, "filepath", stored_path(absolute(strip.sound.filepath)))


def _set_if_changed(owner: Any, name: str, value: str) -> None:
    if getattr(owner, name) != value:
        setattr(owner, name, value)


def remove_take(scene: Any, shot_strip: Any, index: int, delete_files: bool) -> str:
    """Take `index` out of the edit (its strip) and the shot's list; its files too when asked."""
    shot = shot_strip.shotcaller
    take = shot.takes[index]
    strip = take_strip(scene, shot, take)
    if strip is not None:
        compat.container_of(scene.sequence_editor, strip).remove(strip)
    deleted = []
    if delete_files:
        for path in (absolute(take.filepath), absolute(take.record_path)):
            if path and os.path.isfile(path):
                os.remove(path)
                deleted.append(os.path.basename(path))
    active = shot.active_take
    shot.takes.remove(index)
    if index < active or active >= len(shot.takes):
        active -= 1
    shot.active_take = max(active, 0) if len(shot.takes) else -1
    show_active_take(shot)
    gone = f"; deleted {', '.join(deleted)}" if deleted else "; its file is kept"
    return f"removed take {index + 1} of '{shot_strip.name}'{gone}"


def land_take(scene: Any, strip: Any, event: JobSucceeded) -> str:
    """Record the take on its shot, place it over the shot's frames and make it the one seen."""
    shot = strip.shotcaller
    take = event.take
    number = len(shot.takes) + 1
    record = shot.takes.add()
    record.take_id = take.take_id
    record.filepath = stored_path(take.primary_file)
    record.record_path = stored_path(event.record_path)
    pack(
        record,
        media=take.media.value,
        quality=take.quality.value,
        backend=f"{take.backend_kind} '{take.backend_instance}'",
        template=take.template,
        model=take.model,
        seed=take.seed,
        reason=take.routing_reason,
        parameters=json.dumps(take.parameters, sort_keys=True, default=str),
        generation_seconds=take.generation_seconds,
        cost=take.cost,
        cost_source=take.cost_source,
        created=datetime.fromtimestamp(take.finished_at or time.time()).isoformat(timespec="seconds"),
    )
    if take.cost > 0:
        add_spending(scene, take.backend_kind, take.cost)
    shot.job_id, shot.progress = "", 1.0
    try:
        segments = take.parameters.get("segments")  # a take made in segments: one meta strip (joined.py)
        strips_before = len(compat.all_strips(scene.sequence_editor))
        placed = place_take(
            scene, strip, take.primary_file, take.media, f"{strip.name} take {number}", segments,
            blender_path=stored_path(take.primary_file),
        )  # fmt: skip
    except PlacementError as exc:
        shot.status, shot.message = "FAILED", f"take {number} saved but not placed: {exc}"
        status_colours.show(strip)
        return shot.message
    placed.shotcaller.take_of = shot.shot_id
    placed.shotcaller.take_id = take.take_id
    if placed.type == "META":  # its segments are part of the take, never shots of their own
        for part in compat.top_strips(placed):
            part.shotcaller.take_of = shot.shot_id
    strip_index.take_added(scene, strips_before)  # a take names no shot: the index stays current
    record.strip_name = placed.name
    _store_relative(placed)
    (width, height), frame = picture_size(placed), scene.render
    pack(record, take_width=width, take_height=height, frame_width=frame.resolution_x, frame_height=frame.resolution_y)
    shot.active_take = len(shot.takes) - 1  # its update shows this take and mutes the others
    shot.status, shot.hint = "DONE", ""
    shot.message = f"take {number} on channel {placed.channel} ({take.generation_seconds:.1f} s)"
    if take.cost_source == "cache":
        shot.message = (
            f"take {number} on channel {placed.channel}: an identical request's take, reused (nothing generated)"
        )
    elif take.recovered:
        shot.message = f"recovered from {recovered_from(take)}: take {number} on channel {placed.channel}"
    status_colours.show(strip)
    return f"placed '{placed.name}' on channel {placed.channel}" + (" (recovered)" if take.recovered else "")


def recovered_from(take: Any) -> str:
    """'ComfyUI at http://127.0.0.1:8188': the server a recovered take was fetched from."""
    url = str(take.parameters.get("server_url") or "")
    name = {"comfyui": "ComfyUI", "wan2gp": "Wan2GP", "litellm": "LiteLLM"}.get(take.backend_kind, take.backend_kind)
    return f"{name} at {url}" if url else f"{name} '{take.backend_instance}'"


def add_spending(scene: Any, backend_kind: str, cost: float) -> None:
    """The project's spending as the services reported it, kept in the .blend (the journal keeps it too)."""
    project = scene.shotcaller_project
    project.spent += cost
    try:
        per_backend = json.loads(project.spent_by_backend or "{}")
    except ValueError:
        per_backend = {}
    per_backend[backend_kind] = round(float(per_backend.get(backend_kind, 0.0)) + cost, 6)
    project.spent_by_backend = json.dumps(per_backend, sort_keys=True)


def active_shot_strip(scene: Any) -> Any | None:
    """The shot the sidebar is about: the active strip, or the shot of the active take strip."""
    if scene is None or scene.sequence_editor is None:
        return None
    strip = scene.sequence_editor.active_strip
    if strip is None:
        return None
    if strip.shotcaller.take_of:
        return shot_of_take_strip(scene, strip)[0]
    return strip


def select_only(scene: Any, strip: Any) -> None:
    """Make `strip` the only selected strip and the active one."""
    for other in compat.all_strips(scene.sequence_editor):
        if other.select:
            other.select = False
    strip.select = True
    scene.sequence_editor.active_strip = strip


def frame_in_timeline(context: Any, scene: Any, strip: Any) -> None:
    """Move the playhead into `strip` and, when a Sequencer is on screen, zoom its timeline to it."""
    if not compat.left_handle(strip) <= scene.frame_current < compat.right_handle(strip):
        scene.frame_current = compat.left_handle(strip)
    screen = getattr(context, "screen", None)
    for area in getattr(screen, "areas", ()):
        if area.type != "SEQUENCE_EDITOR" or area.spaces.active.view_type == "PREVIEW":
            continue
        region = next((r for r in area.regions if r.type == "WINDOW"), None)
        if region is not None:
            with context.temp_override(area=area, region=region):
                if bpy.ops.sequencer.view_selected.poll():  # type: ignore[call-arg]
                    bpy.ops.sequencer.view_selected()
