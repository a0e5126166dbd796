"""The take's files: which outputs are chosen, the names they get on disk (never the server's), text
outputs recorded, and files that are not what they claim never kept."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from comfyui_doubles import MiniComfy, Recorder, stub_backend, wan_request
from comfyui_reference import shot_request

from shotcaller.backends.base import ProtocolError
from shotcaller.backends.comfyui import ComfyUIBackend
from shotcaller.backends.comfyui.outputs import media_for_file, output_files, safe_extension
from shotcaller.shots import MediaKind


def test_hostile_server_file_names_never_leave_the_output_folder(stub, tmp_path: Path):
    outputs = {
        "58": {
            "images": [
                {"filename": "../../etc/passwd", "subfolder": "../../..", "type": "output"},
                {"filename": "..\\..\\evil.MP4", "subfolder": "", "type": "output"},
                {"filename": "clip.mp4/../../../x.sh", "subfolder": "/abs", "type": "output"},
            ],
            "animated": [True],
        }
    }
    MiniComfy(stub, outputs=outputs)
    out = tmp_path / "takes"
    result = stub_backend(stub).run(wan_request(out), Recorder(), threading.Event())
    assert [os.path.basename(f) for f in result.files] == [
        "sh010_take01_01.mp4",
        "sh010_take01_02.bin",
        "sh010_take01_03.sh",
    ]
    assert sorted(os.listdir(out)) == sorted(os.path.basename(f) for f in result.files)
    assert sorted(os.listdir(tmp_path)) == ["takes"]  # nothing written beside it


def test_existing_files_are_not_overwritten(stub, tmp_path: Path):
    MiniComfy(stub)
    (tmp_path / "sh010_take01.mp4").write_bytes(b"an earlier take")
    result = stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())
    assert result.files == (str(tmp_path / "sh010_take01-2.mp4"),)
    assert (tmp_path / "sh010_take01.mp4").read_bytes() == b"an earlier take"


def test_output_selection_prefers_saved_files_of_the_templates_media():
    entry = {
        "outputs": {
            "9": {"images": [{"filename": "preview.png", "subfolder": "", "type": "temp"}]},
            "10": {"images": [{"filename": "still.png", "subfolder": "", "type": "output"}]},
            "58": {"images": [{"filename": "clip.webp", "subfolder": "", "type": "output"}], "animated": [True]},
            "60": {"audio": [{"filename": "sound.flac", "subfolder": "audio", "type": "output"}]},
            "61": {"text": ["not a file"]},
        }
    }
    assert [r["filename"] for r in output_files(entry, MediaKind.VIDEO)] == ["clip.webp", "still.png", "sound.flac"]
    assert next(r["filename"] for r in output_files(entry, MediaKind.MUSIC)) == "sound.flac"
    only_temp = {"outputs": {"9": {"images": [{"filename": "p.png", "type": "temp"}]}}}
    assert [r["filename"] for r in output_files(only_temp, MediaKind.IMAGE)] == ["p.png"]
    assert media_for_file("a.webm") is MediaKind.VIDEO and media_for_file("a.webp") is MediaKind.IMAGE
    assert media_for_file("a.webp", animated=True) is MediaKind.VIDEO
    assert (safe_extension("x.MP4"), safe_extension("passwd"), safe_extension("a.verylongextension")) == (
        ".mp4",
        ".bin",
        ".bin",
    )


def test_a_take_without_a_file_of_the_templates_media_is_a_protocol_error(stub, tmp_path: Path):
    from shotcaller.backends.base import ProtocolError

    MiniComfy(stub, outputs={"9": {"images": [{"filename": "still_00001_.png", "subfolder": "", "type": "output"}]}})
    with pytest.raises(ProtocolError, match=r"without a video file \(it saved still_00001_\.png\)"):
        stub_backend(stub).run(wan_request(tmp_path), Recorder(), threading.Event())
    assert os.listdir(tmp_path) == []


def test_text_outputs_are_recorded_with_the_take(reference, tmp_path: Path):
    directory = tmp_path / "templates"
    directory.mkdir()
    workflow = {
        "1": {"class_type": "PrimitiveString", "inputs": {"value": ""}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        "3": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 255}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}},
    }
    binding = {
        "name": "card",
        "workflow": "card.json",
        "media": "image",
        "quality": "draft",
        "inputs": {
            "prompt": [{"node": "1", "input": "value"}],
            "filename_prefix": [{"node": "4", "input": "filename_prefix"}],
        },
    }
    (directory / "card.json").write_text(json.dumps(workflow))
    (directory / "card.binding.json").write_text(json.dumps(binding))
    backend = ComfyUIBackend("reference", reference.url, [str(directory)], poll_interval=0.1)
    result = backend.run(
        shot_request(tmp_path / "out", "card", MediaKind.IMAGE, prompt="title card: THE END"),
        Recorder(),
        threading.Event(),
    )
    assert result.parameters["text_outputs"] == ["title card: THE END"]
    assert [os.path.splitext(f)[1] for f in result.files] == [".png"]


def test_an_html_page_for_the_video_is_not_kept(stub, tmp_path: Path):
    MiniComfy(stub)
    stub.on("GET", "/view", (200, b"<!DOCTYPE html><html><body>Proxy error</body></html>", "video/mp4"))
    with pytest.raises(ProtocolError, match="not a video: it begins with '<!DOCTYPE html>"):
        stub_backend(stub).run(wan_request(tmp_path / "takes"), Recorder(), threading.Event())
    assert not (tmp_path / "takes").exists() or list((tmp_path / "takes").iterdir()) == []
