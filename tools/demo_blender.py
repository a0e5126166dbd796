"""The Blender side of the demo, run with a bpy venv's python.

    python tools/demo_blender.py install ZIP
    python tools/demo_blender.py make-film STORYBOARD.json FILM.blend
    python tools/demo_blender.py render FILM.blend PREVIEW.mp4

Where the extension is installed comes from BLENDER_USER_EXTENSIONS (set by the caller).
"""

from __future__ import annotations

import json
import os
import sys

import bpy


def install(zip_path: str) -> None:
    bpy.ops.extensions.package_install_files(
        filepath=os.path.abspath(zip_path), repo="user_default", enable_on_install=True
    )
    import addon_utils

    addon_utils.disable("bl_ext.user_default.shotcaller", default_set=True)


def make_film(storyboard_path: str, film_path: str) -> None:
    with open(storyboard_path, encoding="utf-8") as handle:
        board = json.load(handle)
    import addon_utils

    addon_utils.enable("bl_ext.user_default.shotcaller", default_set=True, handle_error=None)
    from bl_ext.user_default.shotcaller.sequencer import compat

    scene = bpy.context.scene
    scene.name = board["title"]
    scene.render.fps, scene.render.fps_base = int(board["fps"]), 1.0
    scene.render.resolution_x, scene.render.resolution_y = board["resolution"]
    scene.render.resolution_percentage = 100
    editor = scene.sequence_editor_create()
    frame = 1
    for shot in board["shots"]:
        length = round(shot["seconds"] * board["fps"])
        strip = compat.new_color_strip(editor, shot["name"], 1, frame, length)
        strip.color = (0.2, 0.2, 0.25)
        props = strip.shotcaller
        props.prompt = shot["prompt"]
        props.negative_prompt = shot.get("negative_prompt", "")
        props.seed = int(shot.get("seed", 0))
        frame += length
    scene.frame_start, scene.frame_end = 1, frame - 1
    bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(film_path))
    addon_utils.disable("bl_ext.user_default.shotcaller", default_set=True)
    print(f"storyboard: {len(board['shots'])} shots, {frame - 1} frames -> {film_path}")


def render(film_path: str, movie_path: str) -> None:
    bpy.ops.wm.open_mainfile(filepath=os.path.abspath(film_path))
    scene = bpy.context.scene
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):  # 5.0 separates images from video output
        settings.media_type = "VIDEO"
    settings.file_format = "FFMPEG"
    scene.render.ffmpeg.format = "MPEG4"
    scene.render.ffmpeg.codec = "H264"
    scene.render.filepath = os.path.abspath(movie_path)
    scene.render.use_file_extension = False
    bpy.ops.render.render(animation=True)
    print(f"preview: {movie_path}")


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {"install": install, "make-film": make_film, "render": render}[command](*arguments)
