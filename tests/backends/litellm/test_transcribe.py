"""Transcription: a sound file through the REAL proxy to the reference endpoint, then subtitle cues."""

from __future__ import annotations

import itertools

import pytest

from devservers.openai_media.speech import encode_sound, tone_bursts_wav
from shotcaller.backends.base import InvalidRequest, ProtocolError
from shotcaller.backends.litellm.errors import UnknownModel
from shotcaller.backends.litellm.transcribe import (
    Segment,
    SubtitleCue,
    parse_transcription,
    subtitle_cues,
    transcribe_file,
)

SPANS = [(0.5, 1.5), (2.0, 3.2), (4.0, 4.6)]
LINES = ["We sail at dawn.", "Not without the nets.", "Then hurry."]


@pytest.fixture
def dialogue(tmp_path):
    def make(container: str = "wav") -> str:
        path = str(tmp_path / f"dialogue.{container}")
        encode_sound(path, tone_bursts_wav(SPANS, 5.5), transcript="|".join(LINES), container=container)
        return path

    return make


@pytest.mark.parametrize("container", ["wav", "mp3"])
def test_segments_are_timed_to_the_speech(client, dialogue, container):
    segments = transcribe_file(client, "whisper", dialogue(container))
    assert [s.text for s in segments] == LINES
    for segment, (start, end) in zip(segments, SPANS, strict=True):
        assert segment.start == pytest.approx(start, abs=0.05)
        assert segment.end == pytest.approx(end, abs=0.05)


def test_what_the_proxy_forwarded(client, stack, dialogue):
    transcribe_file(client, "whisper", dialogue(), language="en")
    forwarded = [r for r in stack.media.requests if r["path"] == "/v1/audio/transcriptions"][-1]["fields"]
    assert forwarded["model"] == "whisper-1" and forwarded["response_format"] == "verbose_json"
    assert forwarded["language"] == "en" and forwarded["files"]["file"][0] == "dialogue.wav"


def test_undecodable_sound_is_invalid(client, tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not a sound")
    with pytest.raises(InvalidRequest) as caught:
        transcribe_file(client, "whisper", str(path))
    assert "could not be decoded" in caught.value.message


def test_unknown_transcription_model(client, dialogue):
    with pytest.raises(UnknownModel):
        transcribe_file(client, "no-whisper", dialogue())


def test_too_large_and_missing_files_fail_before_sending(client, tmp_path):
    big = tmp_path / "long.wav"
    with open(big, "wb") as handle:
        handle.truncate(26 * 1024 * 1024)
    with pytest.raises(InvalidRequest) as caught:
        transcribe_file(client, "whisper", str(big))
    assert "at most 25 MB" in caught.value.message and "shorter range" in caught.value.hint
    with pytest.raises(InvalidRequest):
        transcribe_file(client, "whisper", str(tmp_path / "missing.wav"))


def test_parse_falls_back_to_one_segment_and_drops_blanks():
    assert parse_transcription({"text": " Hello  there ", "duration": 3.5}) == [
        Segment(start=0, end=3.5, text="Hello there")
    ]
    assert parse_transcription({"text": ""}) == []
    answer = {
        "segments": [
            {"start": 2.0, "end": 3.0, "text": " second"},
            {"start": 0.0, "end": 1.0, "text": "  "},
            {"start": 0.5, "end": 1.5, "text": "first\n"},
        ]
    }
    assert [s.text for s in parse_transcription(answer)] == ["first", "second"]
    with pytest.raises(ProtocolError):
        parse_transcription({"segments": [{"start": 2.0, "end": 1.0, "text": "backwards"}]})
    with pytest.raises(ProtocolError):
        parse_transcription({"segments": ["nope"]})


def test_cues_follow_the_sound_strip_on_the_timeline():
    segments = [Segment(start=0.5, end=1.5, text="a"), Segment(start=2.0, end=3.2, text="b")]
    assert subtitle_cues(segments, 24, sound_start_frame=100) == [
        SubtitleCue(112, 136, "a"),
        SubtitleCue(148, 177, "b"),
    ]


def test_cues_are_clipped_to_a_trimmed_strip():
    segments = [
        Segment(start=0.0, end=1.0, text="cut"),
        Segment(start=1.0, end=3.0, text="kept"),
        Segment(start=5.0, end=6.0, text="gone"),
    ]
    cues = subtitle_cues(segments, 10, sound_start_frame=0, clip_start=15, clip_end=40)
    assert cues == [SubtitleCue(15, 30, "kept")]


def test_cues_never_overlap_and_last_at_least_min_frames():
    segments = [
        Segment(start=0.0, end=2.0, text="long"),
        Segment(start=1.0, end=1.0, text="blip"),
        Segment(start=1.0, end=1.5, text="same start"),
    ]
    cues = subtitle_cues(segments, 10, min_frames=3)
    assert cues == [SubtitleCue(0, 10, "long"), SubtitleCue(10, 15, "blip same start")]
    for earlier, later in itertools.pairwise(cues):
        assert earlier.frame_end <= later.frame_start
    with pytest.raises(ValueError):
        subtitle_cues(segments, 0)
