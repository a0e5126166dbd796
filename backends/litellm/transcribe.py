"""Transcription: a sound file -> timed segments -> subtitle cues in frames. No bpy.

    segments = transcribe_file(client, "whisper", "/path/dialogue.wav")       # worker thread
    cues = subtitle_cues(segments, fps=24, sound_start_frame=strip.frame_start,
                         clip_start=strip.frame_final_start, clip_end=strip.frame_final_end)
    # main thread: one text strip per cue, cue.frame_start .. cue.frame_end (exclusive)

The proxy asks for `verbose_json`, whose `segments` carry start and end seconds. A model that
answers without segments gives one segment over the whole sound (its `duration`), so plain text
still lands on the timeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..base import ProtocolError
from .client import LiteLLMClient


class Segment(BaseModel):
    """A stretch of speech: seconds from the start of the sound file, and what was said."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str

    @model_validator(mode="after")
    def _ordered(self) -> Segment:
        if self.end < self.start:
            raise ValueError(f"segment ends ({self.end}) before it starts ({self.start})")
        return self


@dataclass(frozen=True)
class SubtitleCue:
    """A text strip to make: frames on the scene's timeline, end exclusive (like frame_final_end)."""

    frame_start: int
    frame_end: int
    text: str


def transcribe_file(
    client: LiteLLMClient,
    model: str,
    path: str,
    *,
    language: str | None = None,
    prompt: str | None = None,
    timeout: float | None = None,
) -> list[Segment]:
    """Send the sound file to /v1/audio/transcriptions and return its segments, in time order."""
    answer = client.transcribe(
        path, model, language=language, prompt=prompt, response_format="verbose_json", timeout=timeout
    )
    return parse_transcription(answer, source=f"LiteLLM at {client.base_url} ({model})")


def parse_transcription(answer: Mapping[str, Any], *, source: str = "the transcription") -> list[Segment]:
    """Segments from a verbose_json answer; blank ones dropped, whitespace tidied, sorted by start."""
    raw = answer.get("segments")
    segments: list[Segment] = []
    if isinstance(raw, list) and raw:
        for index, item in enumerate(raw):
            if not isinstance(item, Mapping):
                raise ProtocolError(f"{source} sent segment #{index + 1} that is not an object")
            try:
                segment = Segment.model_validate({**item, "text": " ".join(str(item.get("text") or "").split())})
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = ".".join(str(part) for part in problem["loc"])
                raise ProtocolError(
                    f"{source} sent an unusable segment #{index + 1}: {where} {problem['msg']}".replace(" ,", ","),
                ) from None
            if segment.text:
                segments.append(segment)
        return sorted(segments, key=lambda s: (s.start, s.end))
    text = " ".join(str(answer.get("text") or "").split())
    if not text:
        return []
    try:
        duration = float(answer.get("duration") or 0.0)
    except (TypeError, ValueError):
        duration = 0.0
    return [Segment(start=0.0, end=max(0.0, duration), text=text)]


def subtitle_cues(
    segments: Iterable[Segment],
    fps: float,
    *,
    sound_start_frame: float = 0,
    clip_start: int | None = None,
    clip_end: int | None = None,
    min_frames: int = 1,
) -> list[SubtitleCue]:
    """Cues on the timeline for segments of a sound whose first sample plays at `sound_start_frame`.

    Only what falls inside [clip_start, clip_end) is kept (a trimmed sound strip), cut to fit; every
    cue lasts at least `min_frames` and ends where the next one starts, so cues on one channel never
    overlap.
    """
    if fps <= 0:
        raise ValueError("fps must be positive")
    cues: list[SubtitleCue] = []
    for segment in sorted(segments, key=lambda s: (s.start, s.end)):
        start = round(sound_start_frame + segment.start * fps)
        end = max(round(sound_start_frame + segment.end * fps), start + min_frames)
        if clip_start is not None:
            start = max(start, clip_start)
        if clip_end is not None:
            end = min(end, clip_end)
        if end <= start:
            continue
        if cues and cues[-1].frame_end > start:
            previous = cues[-1]
            if start <= previous.frame_start:  # same start frame: keep both texts in one cue
                cues[-1] = SubtitleCue(
                    previous.frame_start, max(previous.frame_end, end), f"{previous.text} {segment.text}"
                )
                continue
            cues[-1] = SubtitleCue(previous.frame_start, start, previous.text)
        cues.append(SubtitleCue(start, end, segment.text))
    return cues
