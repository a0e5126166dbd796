"""ComfyUI's websocket event stream: frames decoded, and a stream against the loopback stub."""

from __future__ import annotations

import json

import pytest

from shotcaller.backends.base import BackendUnreachable
from shotcaller.backends.comfyui.client import ComfyUIClient
from shotcaller.backends.comfyui.event_stream import EventStreamClosed, decode_binary_frame, parse_text_frame

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + b"rest-of-a-png"


def frame(event_type: int, word: int, rest: bytes) -> bytes:
    return event_type.to_bytes(4, "big") + word.to_bytes(4, "big") + rest


def test_binary_frames_decode_into_previews():
    legacy = decode_binary_frame(frame(1, 2, PNG))
    assert legacy is not None and legacy.type == "preview" and legacy.image == PNG
    assert legacy.image_format == "png"
    jpeg = decode_binary_frame(frame(1, 1, b"\xff\xd8\xff\xe0jpeg"))
    assert jpeg is not None and jpeg.image_format == "jpeg"
    metadata = json.dumps({"node_id": "2", "prompt_id": "p-1", "image_type": "image/png"}).encode()
    with_meta = decode_binary_frame(frame(4, len(metadata), metadata + PNG))
    assert with_meta is not None and with_meta.prompt_id == "p-1" and with_meta.image == PNG
    text = decode_binary_frame(frame(3, 1, b"7loading weights"))
    assert text is not None and text.data == {"node": "7", "text": "loading weights"}
    assert decode_binary_frame(frame(9, 0, b"future")) is None
    assert decode_binary_frame(b"\x00\x01") is None


def test_text_frames_ignore_garbage():
    assert parse_text_frame('{"type": "status", "data": {"sid": "x"}}').data == {"sid": "x"}
    assert parse_text_frame("not json") is None
    assert parse_text_frame('["list"]') is None


def test_event_stream_yields_parsed_events_then_reports_the_drop(stub):
    metadata = json.dumps({"node_id": "2", "prompt_id": "p-1", "image_type": "image/png"}).encode()
    stub.ws_script = [
        ("receive", None),
        ("text", {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "abc"}}),
        ("raw_text", "garbage"),
        ("binary", frame(4, len(metadata), metadata + PNG)),
        ("text", {"type": "executing", "data": {"node": None, "prompt_id": "p-1"}}),
        ("close", None),
    ]
    with ComfyUIClient(stub.url, 5.0).events("abc") as stream:
        events = [event for event in iter(lambda: _receive(stream), "dropped") if event is not None]
    assert [e.type for e in events] == ["status", "preview", "executing"]
    assert events[1].image == PNG
    assert stub.ws_queries == [{"clientId": "abc"}]
    # The first message announces preview metadata, so previews carry their prompt_id.
    assert json.loads(stub.ws_received[0]) == {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


def _receive(stream):
    try:
        return stream.receive(timeout=2)
    except EventStreamClosed:
        return "dropped"


def test_event_stream_connect_refused_is_unreachable(refused_url: str):
    with pytest.raises(BackendUnreachable, match="event stream"):
        ComfyUIClient(refused_url, 5.0).events("abc")
