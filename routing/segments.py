"""Long shots: how a shot longer than one run of its model is made, and lengths in the filmmaker's units.

Pure arithmetic (no network, no bpy). A video offer makes frame counts on a lattice
(`frames_minimum + k * frames_step`, 4n+1 for Wan) up to `max_frames`. A longer shot is:

* **segments**, when the offer names a `continue_with` offer (the same model family's image to
  video template on the same instance): segment 1 is made as the shot would be, every next one
  starts from the last frame of the one before. That first frame repeats the previous segment's
  last one, so it is trimmed (`OVERLAP` frames): the take has no jump and no repeated frame. All
  segments get the same length (the smallest lattice length that covers the shot with the fewest
  segments), so the look holds; the last one is cut to end exactly on the shot's last frame;
* **windows**, when the offer has `sliding_window` (Wan2GP): the server makes any length in one job,
  overlapping its own windows; Shotcaller only says how many windows that is;
* **parts**, for a sound longer than its model makes (`max_seconds`): independent runs of equal
  length, one after the other; music parts overlap by a crossfade (`CROSSFADE_SECONDS`), sound
  effects and ambience are butted together.

Every length a person reads is said in seconds, with frames in brackets (`seconds_text`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backends.base import Offer
from ..shots import MediaKind

OVERLAP = 1  # frames a continuing segment repeats of the one before: the start image it was made from
CROSSFADE_SECONDS = {MediaKind.MUSIC: 2.0}  # music parts fade into each other; other sound is butted
SOUND = (MediaKind.AUDIO, MediaKind.MUSIC)


def seconds_text(frames: int, fps: float, *, what: str = "") -> str:
    """'5.0 s (121 frames at 24 fps)'; `what` is inserted before 'at' ('121 frames of the shot')."""
    seconds = frames / fps if fps > 0 else 0.0
    noun = "frame" if frames == 1 else "frames"
    return f"{seconds:.1f} s ({frames} {noun}{' ' + what if what else ''} at {fps:g} fps)"


def lattice_floor(frames: int, minimum: int, step: int) -> int:
    """The largest lattice length <= frames (the minimum if none is)."""
    minimum, step = max(1, minimum), max(1, step)
    if frames <= minimum:
        return minimum
    return minimum + (frames - minimum) // step * step


def lattice_ceil(frames: int, minimum: int, step: int) -> int:
    """The smallest lattice length >= frames."""
    minimum, step = max(1, minimum), max(1, step)
    return minimum + step * max(0, math.ceil((frames - minimum) / step))


@dataclass(frozen=True)
class SegmentPlan:
    """How one shot is made. `lengths` are what each run is asked for; `keep` what the take uses of each."""

    shot_frames: int
    lengths: tuple[int, ...]
    # "single"; "segments" (one run each, each continuing the one before); "windows" (one run, the
    # server's own windows); "parts" (sound: independent runs, music crossfaded over `overlap` frames)
    mode: str = "single"
    overlap: int = OVERLAP
    fps: float = 24.0

    @property
    def count(self) -> int:
        return len(self.lengths)

    @property
    def segmented(self) -> bool:
        """Made as several runs by Shotcaller (segments or sound parts), joined into one take."""
        return self.mode in ("segments", "parts") and self.count > 1

    @property
    def keep(self) -> tuple[int, ...]:
        """New frames each run adds to the take: later ones share their first `overlap` frames with
        the run before (trimmed for video, crossfaded for sound), the last one is cut so the take
        ends on the shot's last frame."""
        if self.mode not in ("segments", "parts"):
            return (self.shot_frames,)
        kept: list[int] = []
        left = self.shot_frames
        for index, length in enumerate(self.lengths):
            usable = length if index == 0 else length - self.overlap
            kept.append(min(usable, left))
            left -= kept[-1]
        return tuple(kept)

    @property
    def starts(self) -> tuple[int, ...]:
        """Where each segment's kept frames begin in the take (0-based frame offsets)."""
        offsets, at = [], 0
        for kept in self.keep:
            offsets.append(at)
            at += kept
        return tuple(offsets)

    def describe(self) -> str:
        """'3 segments of 81 frames' (or windows); '' for a single run."""
        if self.count <= 1:
            return ""
        if self.mode == "parts":
            fade = f", crossfaded over {self.overlap / self.fps:.1f} s" if self.overlap else ""
            return f"{self.count} parts of {self.lengths[0] / self.fps:.1f} s{fade}"
        noun = "segments" if self.mode == "segments" else "windows"
        sizes = sorted(set(self.lengths))
        if len(sizes) == 1:
            return f"{self.count} {noun} of {sizes[0]} frames"
        return f"{self.count} {noun} of " + " and ".join(f"{n} frames" for n in sizes)

    def to_record(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "shot_frames": self.shot_frames,
            "lengths": list(self.lengths),
            "keep": list(self.keep),
            "overlap": self.overlap,
            "fps": self.fps,
        }


def longest_run(offer: Offer) -> int:
    """The most frames one run of the offer makes, on its lattice (0: no limit)."""
    if not offer.max_frames:
        return 0
    return lattice_floor(offer.max_frames, offer.frames_minimum, offer.frames_step)


def can_make_long_shots(offer: Offer) -> bool:
    return bool(offer.continue_with) or offer.sliding_window


def plan_frames(
    shot_frames: int,
    max_frames: int,
    *,
    minimum: int = 1,
    step: int = 1,
    mode: str = "segments",
    overlap: int = OVERLAP,
    fps: float = 24.0,
) -> SegmentPlan:
    """The plan for `shot_frames` with runs of at most `max_frames` on the lattice minimum + k * step."""
    if shot_frames < 1:
        raise ValueError("a shot has at least one frame")
    longest = lattice_floor(max_frames, minimum, step) if max_frames else 0
    if not longest or shot_frames <= longest:
        return SegmentPlan(shot_frames, (shot_frames,), "single", overlap, fps)
    if longest <= overlap:
        raise ValueError(f"runs of {longest} frames cannot continue each other with {overlap} frames of overlap")
    count = math.ceil((shot_frames - overlap) / (longest - overlap))
    # The shortest equal length that still covers the shot with `count` runs: less work, same look.
    length = min(longest, lattice_ceil(math.ceil((shot_frames + (count - 1) * overlap) / count), minimum, step))
    return SegmentPlan(shot_frames, (length,) * count, mode, overlap, fps)


def plan_for(offer: Offer, shot_frames: int, fps: float) -> SegmentPlan | None:
    """The plan for a shot of `shot_frames` (at `fps`) with this offer; None when it cannot make it."""
    if offer.media in SOUND:
        return _sound_plan(offer, shot_frames, fps)
    longest = longest_run(offer)
    if not longest or shot_frames <= longest:
        return SegmentPlan(shot_frames, (shot_frames,), "single", OVERLAP, fps)
    if offer.continue_with:
        return plan_frames(shot_frames, offer.max_frames, minimum=offer.frames_minimum, step=offer.frames_step, fps=fps)
    if offer.sliding_window:
        return plan_frames(
            shot_frames,
            offer.max_frames,
            minimum=offer.frames_minimum,
            step=offer.frames_step,
            mode="windows",
            fps=fps,
        )
    return None


def _sound_plan(offer: Offer, shot_frames: int, fps: float) -> SegmentPlan:
    longest = math.floor(offer.max_seconds * fps + 1e-6) if offer.max_seconds else 0
    if not longest or shot_frames <= longest:
        return SegmentPlan(shot_frames, (shot_frames,), "single", 0, fps)
    crossfade = min(round(CROSSFADE_SECONDS.get(offer.media, 0.0) * fps), longest // 4)
    return plan_frames(shot_frames, longest, mode="parts", overlap=crossfade, fps=fps)


def segment_frames(offer: Offer, shot_frames: int) -> int:
    """The frames one run makes for this shot: what memory is estimated for (a segment, a window)."""
    longest = longest_run(offer)
    if longest and shot_frames > longest and can_make_long_shots(offer):
        return longest
    return shot_frames


def too_long_reason(offer_label: str, limit_frames: int, shot_frames: int, fps: float) -> str:
    """'its X makes at most 5.0 s (121 frames at 24 fps) and the shot lasts 10.0 s (240 frames)'."""
    return (
        f"its {offer_label} makes at most {seconds_text(limit_frames, fps)}"
        f" and the shot lasts {shot_frames / fps:.1f} s ({shot_frames} frames)"
    )
