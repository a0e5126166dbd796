"""The stand-in "generated" sounds of the reference server: a tone whose pitch comes from the seed
(Stable Audio) or a short arpeggio in a key from the seed (ACE-Step), as float waveforms."""

from __future__ import annotations

import numpy as np

AUDIO_SAMPLE_RATE = 44100  # Stable Audio Open and ACE-Step both decode to 44.1 kHz stereo


def tone_frequency(seed: int) -> float:
    """The pitch of the stand-in sound for a seed: one of 36 semitones from A2 (110 Hz)."""
    return 110.0 * 2.0 ** ((int(seed) % 36) / 12.0)


def _text_phase(text: str) -> float:
    return (sum(text.encode("utf-8")) % 628) / 100.0


def _fade(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    ramp = min(len(wave) // 2, sample_rate // 100)  # 10 ms in and out: no clicks
    if ramp > 0:
        envelope = np.linspace(0.0, 1.0, ramp, dtype=np.float32)
        wave[:ramp] *= envelope
        wave[-ramp:] *= envelope[::-1]
    return wave


def synth_sound(seconds: float, seed: int, text: str = "", sample_rate: int = AUDIO_SAMPLE_RATE) -> np.ndarray:
    """A (2, samples) float32 stereo tone of `seconds`: pitch from the seed, a little breath of noise."""
    count = max(1, round(float(seconds) * sample_rate))
    t = np.arange(count, dtype=np.float64) / sample_rate
    f0 = tone_frequency(seed)
    wave = 0.35 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(2 * np.pi * 2 * f0 * t + _text_phase(text))
    wave *= 0.85 + 0.15 * np.sin(2 * np.pi * 3.0 * t)  # slow tremolo
    wave += np.random.default_rng(int(seed)).normal(0.0, 0.01, count)
    mono = _fade(wave.astype(np.float32), sample_rate)
    return np.stack([mono, mono * 0.9])


MUSIC_NOTE_SECONDS = 0.25  # 120 bpm in eighth notes


def music_notes(seed: int) -> list[float]:
    """The arpeggio of the stand-in music for a seed: root, third, fifth, third of a key from the seed."""
    root = 220.0 * 2.0 ** ((int(seed) % 12) / 12.0)
    third = 4 if int(seed) % 2 == 0 else 3  # major for even seeds, minor for odd ones
    return [root * 2.0 ** (semitones / 12.0) for semitones in (0, third, 7, third)]


def synth_music(seconds: float, seed: int, text: str = "", sample_rate: int = AUDIO_SAMPLE_RATE) -> np.ndarray:
    """A (2, samples) float32 stereo arpeggio with a bass note on every beat, `seconds` long."""
    count = max(1, round(float(seconds) * sample_rate))
    t = np.arange(count, dtype=np.float64) / sample_rate
    notes = np.array(music_notes(seed))
    index = (t // MUSIC_NOTE_SECONDS).astype(np.int64)
    local = t - index * MUSIC_NOTE_SECONDS
    melody = 0.3 * np.sin(2 * np.pi * notes[index % len(notes)] * local) * np.exp(-local * 6.0)
    beat = t % (2 * MUSIC_NOTE_SECONDS)
    bass = 0.2 * np.sin(2 * np.pi * notes[0] / 2 * t + _text_phase(text)) * np.exp(-beat * 3.0)
    left = _fade((melody + 0.7 * bass).astype(np.float32), sample_rate)
    right = _fade((0.7 * melody + bass).astype(np.float32), sample_rate)
    return np.stack([left, right])
