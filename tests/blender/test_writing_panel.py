"""The Writing and Subtitles panels draw their messages whole, at the sidebar's width and the UI scale
(the panels' shared wrap helper), in real Blender through the stand-in layout. No server: the panels
draw what the writing state holds."""

from __future__ import annotations

import importlib
import re
import types

import pytest
import stand_in_layout

# 120 words and a URL too long for any line, about 1000 characters: more than the 12 lines the panel once
# kept at any of the widths below.
LONG = " ".join(f"word{n:03d}" for n in range(120)) + " https://litellm.example.net/v1/chat/completions/" + "x" * 40


class Sidebar:
    """bpy.context as a sidebar `width` pixels wide at UI scale `scale` draws it."""

    def __init__(self, context, width, scale):
        self._context = context
        self.region = types.SimpleNamespace(width=width)
        self.preferences = types.SimpleNamespace(view=types.SimpleNamespace(ui_scale=scale))

    def __getattr__(self, name):
        return getattr(self._context, name)


@pytest.fixture
def writing(shotcaller_addon, sequencer_scene, blender):
    """The panels module and the fresh scene's writing state (a new scene each test: nothing to reset)."""
    return types.SimpleNamespace(
        panels=importlib.import_module(f"{shotcaller_addon}.panels.writing"),
        text=importlib.import_module(f"{shotcaller_addon}.panels.text"),
        state=sequencer_scene.shotcaller_writing,
    )


def words(text):
    return re.findall(r"\S+", text)


def drawn_whole(message, drawn):
    """Every word of `message`, in order, in what was drawn; a word too long for a line is split."""
    return "".join(words(message)) in "".join(words(drawn))


@pytest.mark.parametrize(("width", "scale"), [(310, 1.0), (310, 2.0), (600, 1.5)])
def test_a_long_message_is_drawn_whole_and_fits_the_sidebar_at_its_ui_scale(writing, blender, width, scale):
    writing.state.script_state, writing.state.script_message = "FAILED", LONG
    context = Sidebar(blender.context, width, scale)
    shown = stand_in_layout.draw(writing.panels.SEQUENCER_PT_shotcaller_writing, context)
    chars = writing.text.chars_for_width(width, scale)
    assert drawn_whole(LONG, shown), shown  # it was cut at 12 lines, ending in "..."
    assert "..." not in shown
    message_lines = [line for line in shown.splitlines() if re.search(r"word\d{3}|https?:|x{5}", line)]
    assert len(message_lines) > 12
    too_long = [line for line in message_lines if len(line) > chars]
    assert not too_long, (chars, too_long)  # at UI scale 2 it wrapped to 40 characters, twice what fits


def test_the_old_and_new_prompts_are_drawn_whole(writing, blender, sequencer_scene):
    state = writing.state
    state.enhance_state, state.enhance_strip, state.enhance_target = "READY", "Harbour", "its prompt"
    state.enhance_old, state.enhance_new = "a harbour at dawn", LONG * 3  # well past the 40 lines once kept
    shown = stand_in_layout.draw(writing.panels.SEQUENCER_PT_shotcaller_writing, Sidebar(blender.context, 310, 1.0))
    assert "Old:" in shown and "a harbour at dawn" in shown
    assert drawn_whole(LONG * 3, shown) and "..." not in shown
    assert all(len(line) <= writing.text.chars_for_width(310) for line in shown.splitlines() if "word" in line)


def test_the_subtitles_message_uses_the_same_wrapping(writing, blender):
    state = writing.state
    state.transcribe_state, state.transcribe_message = "FAILED", LONG
    shown = stand_in_layout.draw(writing.panels.SEQUENCER_PT_shotcaller_subtitles, Sidebar(blender.context, 310, 2.0))
    assert drawn_whole(LONG, shown)
    assert all(len(line) <= writing.text.chars_for_width(310, 2.0) for line in shown.splitlines() if "word" in line)
