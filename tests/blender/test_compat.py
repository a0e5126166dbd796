"""sequencer/compat.py in real Blender: strip timing under the old and the new (5.1+) names."""

from __future__ import annotations

import warnings

import pytest


def test_timing_reads_and_writes_on_every_version(compat, sequencer_scene):
    strip = compat.new_color_strip(sequencer_scene.sequence_editor, "Shot", 1, 10, 50)
    assert (compat.left_handle(strip), compat.right_handle(strip), compat.duration(strip)) == (10, 60, 50)
    assert compat.content_start(strip) == 10.0
    compat.set_duration(strip, 30)
    assert (compat.left_handle(strip), compat.right_handle(strip)) == (10, 40)
    compat.set_left_handle(strip, 15)
    assert (compat.left_handle(strip), compat.duration(strip)) == (15, 25)
    compat.set_right_handle(strip, 45)
    assert compat.duration(strip) == 30


def test_compat_raises_no_deprecation_warning(compat, sequencer_scene):
    strip = compat.new_color_strip(sequencer_scene.sequence_editor, "Shot", 1, 1, 24)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        compat.set_duration(strip, compat.duration(strip) + compat.left_handle(strip) - compat.right_handle(strip) + 12)
        compat.content_start(strip)
        compat.content_duration(strip)


def test_deprecations_from_the_extension_fail_the_suite(compat, sequencer_scene, blender_helpers):
    """Deprecated Blender API used by the extension or the tests is found and reported (conftest)."""
    if not compat.NEW_TIMING:
        pytest.skip("this Blender has only the old timing names, which are not deprecated here")
    strip = compat.new_color_strip(sequencer_scene.sequence_editor, "Shot", 1, 1, 24)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", DeprecationWarning)
        strip.frame_final_start  # noqa: B018  (the read is the point)
    found = blender_helpers.project_deprecations(records)
    assert len(found) == 1 and "test_compat.py" in found[0] and "frame_final_start" in found[0], found
