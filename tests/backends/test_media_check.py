"""The media check on real files (written by Pillow and PyAV) and on what servers send instead."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image

from shotcaller.backends.base import ProtocolError
from shotcaller.backends.media_check import check_bytes, check_file, detect, quote_start
from shotcaller.shots import MediaKind

DTYPES = {"s16": np.int16, "s32": np.int32, "flt": np.float32, "dbl": np.float64}


def image(format_: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 80, 20)).save(buffer, format=format_, **options)
    return buffer.getvalue()


def video(tmp_path, container: str, codec: str) -> bytes:
    path = tmp_path / f"clip.{container}"
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return path.read_bytes()


def sound(tmp_path, container: str, codec: str, rate: int = 48000) -> bytes:
    path = tmp_path / f"sound.{container}"
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate)
        stream.layout = "mono"
        sample_format = stream.codec_context.format.name
        samples = stream.codec_context.frame_size or 1024
        for _ in range(4):
            data = np.zeros((1, samples), DTYPES[sample_format.rstrip("p")])
            frame = av.AudioFrame.from_ndarray(data, format=sample_format, layout="mono")
            frame.sample_rate = rate
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return path.read_bytes()


@pytest.mark.parametrize(
    ("make", "media", "found"),
    [
        (lambda tmp: image("PNG"), MediaKind.IMAGE, "png"),
        (lambda tmp: image("JPEG"), MediaKind.IMAGE, "jpeg"),
        (lambda tmp: image("WEBP"), MediaKind.IMAGE, "webp"),
        (lambda tmp: image("GIF"), MediaKind.VIDEO, "gif"),
        (lambda tmp: video(tmp, "mp4", "mpeg4"), MediaKind.VIDEO, "mp4"),
        (lambda tmp: video(tmp, "mov", "mpeg4"), MediaKind.VIDEO, "mp4"),
        (lambda tmp: video(tmp, "webm", "libvpx"), MediaKind.VIDEO, "webm"),
        (lambda tmp: video(tmp, "avi", "mpeg4"), MediaKind.VIDEO, "avi"),
        (lambda tmp: sound(tmp, "wav", "pcm_s16le"), MediaKind.AUDIO, "wav"),
        (lambda tmp: sound(tmp, "flac", "flac"), MediaKind.AUDIO, "flac"),
        (lambda tmp: sound(tmp, "mp3", "mp3", 44100), MediaKind.MUSIC, "mp3"),
        (lambda tmp: sound(tmp, "ogg", "libopus"), MediaKind.AUDIO, "ogg"),
    ],
    ids=["png", "jpeg", "webp", "gif", "mp4", "mov", "webm", "avi", "wav", "flac", "mp3", "ogg"],
)
def test_real_media_passes(make, media, found, tmp_path):
    data = make(tmp_path)
    assert detect(data[:4096]) == found
    path = tmp_path / "take"
    path.write_bytes(data)
    assert check_file(str(path), media, source="a server", what="the take") == found


@pytest.mark.parametrize(
    ("data", "media", "words"),
    [
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", MediaKind.VIDEO, "'<!DOCTYPE html>"),
        (b'{"error": "out of memory"}', MediaKind.IMAGE, '\'{"error": "out of memory"}\''),
        (b"", MediaKind.AUDIO, "an empty file"),
        (b"\x00\x01\x02\x03garbage\xff\xfe", MediaKind.VIDEO, "bytes 00 01 02 03"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x00\x00\x00\x00\x00", MediaKind.IMAGE, "bytes 89 50"),
    ],
    ids=["html", "json", "empty", "garbage", "png-of-zero-size"],
)
def test_what_is_not_media_is_refused_quoting_its_first_bytes(data, media, words):
    with pytest.raises(ProtocolError, match="it begins with") as caught:
        check_bytes(data, media, source="ComfyUI at http://127.0.0.1:8188", what="output file 'a'")
    assert words in caught.value.message
    assert "Nothing was kept" in caught.value.hint


def test_media_of_the_wrong_kind_is_refused_by_name(tmp_path):
    with pytest.raises(ProtocolError, match="not a video: it begins with JPEG data"):
        check_bytes(image("JPEG"), MediaKind.VIDEO, source="a server", what="the video")
    with pytest.raises(ProtocolError, match="not an image: it begins with MP4 data"):
        check_bytes(video(tmp_path, "mp4", "mpeg4"), MediaKind.IMAGE, source="a server", what="the image")


def test_long_text_is_cut():
    assert quote_start(b"a" * 500).endswith("...'")
