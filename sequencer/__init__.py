"""Blender Video Sequencer glue: the one compatibility module and take placement."""
