"""Running a shot planned in segments (routing/segments.py) as consecutive runs on one instance.

Segment 1 is made as the shot would be; each next one by the model family's image to video offer,
starting from the last frame of the one before (the backend returns it beside the video). The runs
are consecutive inside one scheduler job, so the whole shot holds its slot on one server (the same
look, no other shot in between) and progress, cancel and failover apply to the shot as a whole.

Every finished segment is written to a folder named by what makes the look (the shot's settings,
the model family, the plan) with a manifest, before the next starts. A failure of segment k leaves
1..k-1 there: the scheduler's failover, or the user's next Generate, finds them and resumes at k. A
failover to another model family cannot reuse them (the look would change) and says so.

The take is every segment's file, in order, with the frames of each it keeps: the first frame of a
continuing segment repeats the last one of the segment before and is trimmed, the last segment is
cut to end on the shot's last frame. The timeline layer plays them as one take.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from ..backends.base import (
    Backend,
    BackendError,
    Cancelled,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    Offer,
    Progress,
    ProgressCallback,
)
from ..backends.files import sanitize_filename, write_atomically
from ..routing.segments import SegmentPlan, plan_for, seconds_text

log = logging.getLogger(__name__)

MANIFEST = "segments.json"
_KEPT_FAMILY = "shotcaller_kept_family"
SEGMENTS_FOLDER = "segments"


@dataclass(frozen=True)
class DoneSegment:
    index: int
    file: str
    last_frame: str
    frames: int
    server_job_id: str
    instance: str

    def usable(self) -> bool:
        return os.path.isfile(self.file) and (not self.last_frame or os.path.isfile(self.last_frame))


def family_of(offer: Offer) -> str:
    return offer.family or offer.name


def kept_family(exc: BaseException) -> str:
    """The model family whose segments a failed segmented job keeps on disk ('' if none)."""
    return str(getattr(exc, _KEPT_FAMILY, ""))


def look_key(request: GenerationRequest, plan: SegmentPlan) -> str:
    """What the segments' look depends on: equal keys may share segments, whatever the server."""
    spec = request.spec
    parts = {
        "shot": spec.shot_id,
        "prompt": spec.prompt,
        "negative": spec.negative_prompt,
        "seed": spec.seed,
        "size": [spec.width, spec.height],
        "fps": spec.fps,
        "init_image": spec.init_image or "",
        "family": family_of(request.offer),
        "quality": spec.quality.value,
        "plan": [plan.shot_frames, *plan.lengths],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class SegmentStore:
    """The folder of one shot's segments and its manifest (JSON, rewritten atomically after each segment)."""

    def __init__(self, output_dir: str, request: GenerationRequest, plan: SegmentPlan) -> None:
        # Named by the shot's id, not the strip's name: a renamed strip still finds its segments.
        name = sanitize_filename(request.spec.shot_id[:16], fallback="shot")
        self.key = look_key(request, plan)
        self.folder = os.path.join(output_dir, SEGMENTS_FOLDER, f"{name}_{self.key}")
        self.family = family_of(request.offer)
        self._lock = threading.Lock()
        self.done: dict[int, DoneSegment] = {}
        self._read()

    def _read(self) -> None:
        path = os.path.join(self.folder, MANIFEST)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            for item in data.get("segments", []):
                segment = DoneSegment(**item)
                if segment.usable():
                    self.done[segment.index] = segment
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError) as exc:  # a damaged manifest: make the segments again
            log.warning("ignoring the segment manifest %s: %s", path, exc)

    def record(self, segment: DoneSegment, plan: SegmentPlan) -> None:
        with self._lock:
            self.done[segment.index] = segment
            data = {
                "key": self.key,
                "family": self.family,
                "plan": plan.to_record(),
                "segments": [vars(s) for s in sorted(self.done.values(), key=lambda s: s.index)],
            }
            write_atomically([json.dumps(data, indent=2).encode()], os.path.join(self.folder, MANIFEST))

    def other_families(self, output_dir: str) -> list[str]:
        """Families of this shot's segment folders made with another model family (for the message)."""
        root = os.path.join(output_dir, SEGMENTS_FOLDER)
        prefix = os.path.basename(self.folder).rsplit("_", 1)[0] + "_"
        found: list[str] = []
        try:
            names = os.listdir(root)
        except OSError:
            return found
        for name in names:
            if not name.startswith(prefix) or os.path.join(root, name) == self.folder:
                continue
            try:
                with open(os.path.join(root, name, MANIFEST), encoding="utf-8") as handle:
                    family = str(json.load(handle).get("family", ""))
            except (OSError, ValueError):
                continue
            if family and family != self.family:
                found.append(family)
        return found


class _SegmentProgress:
    """One segment's progress as a share of the whole shot's."""

    def __init__(self, report: ProgressCallback, index: int, count: int) -> None:
        self.report, self.index, self.count = report, index, count

    def __call__(self, progress: Progress) -> None:
        fraction = (self.index + max(0.0, min(1.0, progress.fraction))) / self.count
        message = f"segment {self.index + 1} of {self.count}" + (f": {progress.message}" if progress.message else "")
        self.report(Progress(fraction, message, progress.preview_image, progress.preview_format))


def run_planned(
    backend: Backend,
    request: GenerationRequest,
    instance_offers: tuple[Offer, ...],
    report: ProgressCallback,
    cancel: threading.Event,
) -> GenerationResult:
    """`backend.run`, or the segments (sound: parts) of a shot longer than one run of the offer makes."""
    plan = plan_for(request.offer, request.spec.frame_count, request.spec.fps)
    if plan is None or not plan.segmented:
        return backend.run(request, report, cancel)
    if plan.mode == "parts":  # sound parts are independent runs of the same offer
        return run_segments(backend, request, plan, request.offer, report, cancel)
    name = request.offer.continue_with
    continue_offer = next((o for o in instance_offers if o.name == name), None)
    if continue_offer is None:
        raise InvalidRequest(
            f"{backend.display_name} no longer offers '{name}', which continues {request.offer.label or name}",
            hint="The templates changed since the shot was routed; generate again.",
        )
    return run_segments(backend, request, plan, continue_offer, report, cancel)


def run_segments(
    backend: Backend,
    request: GenerationRequest,
    plan: SegmentPlan,
    continue_offer: Offer,
    report: ProgressCallback,
    cancel: threading.Event,
) -> GenerationResult:
    """Make (or find on disk) every segment of the plan, in order; the take is all of them."""
    store = SegmentStore(request.output_dir, request, plan)
    elsewhere = store.other_families(request.output_dir)
    if elsewhere:
        report(
            Progress(
                0.0,
                f"segments made before with {', '.join(sorted(set(elsewhere)))} are kept on disk but not used:"
                f" {family_of(request.offer)} is another model family, so the shot starts over",
            )
        )
    previous: DoneSegment | None = None
    made: list[DoneSegment] = []
    model, parameters = "", dict[str, Any]()
    for index, length in enumerate(plan.lengths):
        found = store.done.get(index)
        if found is not None and (index == 0 or previous is not None):
            report(Progress((index + 1) / plan.count, f"segment {index + 1} of {plan.count} kept from before"))
            previous = found
            made.append(found)
            continue
        if cancel.is_set():
            raise Cancelled(f"the shot was cancelled before segment {index + 1} of {plan.count}")
        offer = request.offer if index == 0 else continue_offer
        chained = plan.mode == "segments"  # video: each segment starts from the last frame before
        start_image = request.spec.init_image
        if index > 0 and chained:
            start_image = previous.last_frame if previous else None
            if not start_image:
                raise InvalidRequest(f"segment {index} left no last frame to continue from")
        # Each segment its own noise (seed + index): with the same noise a model tends to repeat the
        # first segment's motion in every later one. Deterministic, so a redo makes the same take.
        seed = (request.spec.seed + index) % (2**53)
        spec = request.spec.model_copy(update={"frame_count": length, "init_image": start_image, "seed": seed})
        segment_request = GenerationRequest(
            spec, offer, store.folder, f"segment_{index + 1:02d}", last_frame=chained and index < plan.count - 1
        )
        os.makedirs(store.folder, exist_ok=True)
        try:
            result = backend.run(segment_request, _SegmentProgress(report, index, plan.count), cancel)
        except BackendError as exc:
            kept = f"; {_kept(index)} and a retry starts at segment {index + 1}" if index else ""
            exc.message = f"segment {index + 1} of {plan.count}: {exc.message}{kept}"
            if index:
                setattr(exc, _KEPT_FAMILY, store.family)  # failover keeps to it (attempts.remember_failure)
            raise
        if not result.files:
            raise InvalidRequest(f"segment {index + 1} of {plan.count} came back without a file")
        if segment_request.last_frame and not result.last_frame:
            raise InvalidRequest(
                f"{backend.display_name} did not return the last frame of segment {index + 1}",
                hint="The next segment starts from it; update the server or its template.",
            )
        done = DoneSegment(index, result.files[0], result.last_frame, length, result.server_job_id, backend.instance_id)
        store.record(done, plan)
        model, parameters = result.model or model, result.parameters or parameters
        previous = done
        made.append(done)
    joined = [
        {
            "file": segment.file,
            "frames": segment.frames,
            # video: the repeated first frame is not shown; sound: the parts overlap and crossfade
            "skip_first": plan.overlap if number and plan.mode == "segments" else 0,
            "crossfade": plan.overlap if number and plan.mode == "parts" else 0,
            "keep": keep,
            "server_job_id": segment.server_job_id,
            "instance": segment.instance,
        }
        for number, (segment, keep) in enumerate(zip(made, plan.keep, strict=True))
    ]
    summary = _summary(plan, request)
    result_parameters: dict[str, Any] = {
        **{k: v for k, v in parameters.items() if k not in ("frame_count", "init_image", "text_outputs")},
        "frame_count": plan.shot_frames,
        "segment_plan": plan.to_record(),
        "segments": joined,
        "segments_folder": store.folder,
        "continued_with": continue_offer.name if plan.mode == "segments" else "",
        "summary": summary,
    }
    return GenerationResult(
        files=tuple(segment.file for segment in made),
        model=model,
        parameters=result_parameters,
        server_job_id=",".join(s.server_job_id for s in made if s.server_job_id),
    )


def _summary(plan: SegmentPlan, request: GenerationRequest) -> str:
    return (
        f"{plan.describe()} ({seconds_text(plan.lengths[0], plan.fps)} each), joined at"
        f" {plan.count - 1} joint(s) into {seconds_text(plan.shot_frames, plan.fps)}"
        f" with {request.offer.model or request.offer.label}"
    )


def _kept(made: int) -> str:
    """Which finished segments stay on disk, said as a person would."""
    return "segment 1 is kept" if made == 1 else f"segments 1 to {made} are kept"
