"""A stand-in speech recogniser: real timing from the sound's loudness, text from its metadata.

There is no speech model here. The segments are the loud stretches of the file (voice activity
found from short-window RMS), so their start and end times are real. Their words come from a
metadata tag of the file (`transcript`, `lyrics` or `comment`, lines split on `|` or newlines), in
order; a stretch without a line is called "[speech N]". Test fixtures write the tag, so a whole
transcription round trip can be checked exactly.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

SAMPLE_RATE = 16_000
WINDOW_SECONDS = 0.02
TEXT_KEYS = ("transcript", "lyrics", "comment")


class UndecodableAudio(ValueError):
    """The bytes are not a sound file PyAV can read."""


@dataclass(frozen=True)
class Speech:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # mono float32 at SAMPLE_RATE
    duration: float
    lines: tuple[str, ...]


def decode(data: bytes) -> DecodedAudio:
    """Mono 16 kHz samples and the transcript lines found in the file's metadata."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise UndecodableAudio("the file has no audio stream")
            stream = container.streams.audio[0]
            metadata = {
                **{k.lower(): v for k, v in container.metadata.items()},
                **{k.lower(): v for k, v in stream.metadata.items()},
            }
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            pieces: list[np.ndarray] = []
            for frame in container.decode(stream):
                for converted in resampler.resample(frame):
                    pieces.append(converted.to_ndarray().reshape(-1))
            for converted in resampler.resample(None):
                pieces.append(converted.to_ndarray().reshape(-1))
    except (av.FFmpegError, UnicodeDecodeError, IndexError) as exc:
        raise UndecodableAudio(str(exc)) from exc
    samples = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)
    text = next((metadata[key] for key in TEXT_KEYS if metadata.get(key)), "")
    lines = tuple(line.strip() for line in re.split(r"[|\n]", text) if line.strip())
    return DecodedAudio(samples, len(samples) / SAMPLE_RATE, lines)


def voice_activity(
    samples: np.ndarray,
    *,
    rate: int = SAMPLE_RATE,
    relative_db: float = -30.0,
    floor_db: float = -50.0,
    min_gap: float = 0.3,
    min_length: float = 0.15,
) -> list[tuple[float, float]]:
    """(start, end) seconds of the stretches louder than max(floor, peak + relative) dBFS."""
    window = max(1, int(rate * WINDOW_SECONDS))
    count = len(samples) // window
    if count == 0:
        return []
    frames = samples[: count * window].reshape(count, window)
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    level = 20 * np.log10(np.maximum(rms, 1e-9))
    threshold = max(floor_db, float(level.max()) + relative_db)
    loud = level > threshold
    spans: list[list[float]] = []
    index = 0
    while index < count:
        if not loud[index]:
            index += 1
            continue
        start = index
        while index < count and loud[index]:
            index += 1
        begin, end = start * WINDOW_SECONDS, index * WINDOW_SECONDS
        if spans and begin - spans[-1][1] < min_gap:
            spans[-1][1] = end
        else:
            spans.append([begin, end])
    return [(round(a, 3), round(b, 3)) for a, b in spans if b - a >= min_length]


def recognise(data: bytes) -> tuple[list[Speech], float]:
    """The speech segments of a sound file and its duration in seconds."""
    audio = decode(data)
    spans = voice_activity(audio.samples)
    segments = [
        Speech(start, end, audio.lines[index] if index < len(audio.lines) else f"[speech {index + 1}]")
        for index, (start, end) in enumerate(spans)
    ]
    return segments, round(audio.duration, 3)


def tone_bursts_wav(
    spans: list[tuple[float, float]], duration: float, *, rate: int = 16_000, frequency: float = 220.0
) -> np.ndarray:
    """Int16 mono samples: a tone inside each (start, end) span, silence elsewhere (for tests)."""
    t = np.arange(int(duration * rate)) / rate
    signal = np.zeros_like(t)
    for start, end in spans:
        inside = (t >= start) & (t < end)
        signal[inside] = 0.5 * np.sin(2 * np.pi * frequency * t[inside])
    return (signal * 32767).astype(np.int16)


def encode_sound(
    path: str, samples: np.ndarray, *, rate: int = 16_000, transcript: str = "", container: str = "wav"
) -> None:
    """Write int16 mono samples to a sound file, the transcript in its metadata (for tests)."""
    codec = {"wav": "pcm_s16le", "flac": "flac", "mp3": "libmp3lame"}[container]
    with av.open(path, mode="w", format=container) as output:
        if transcript:
            output.metadata["comment" if container == "wav" else "transcript"] = transcript
        stream: Any = output.add_stream(codec, rate=rate)
        stream.layout = "mono"
        sample_format = stream.format.name
        resampler = av.AudioResampler(format=sample_format, layout="mono", rate=rate)
        chunk = 4096
        for offset in range(0, len(samples), chunk):
            piece = samples[offset : offset + chunk].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(piece, format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = offset
            for converted in resampler.resample(frame):
                output.mux(stream.encode(converted))
        output.mux(stream.encode(None))
