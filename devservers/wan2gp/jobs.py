"""Generation jobs: one at a time, events like a WanGP SessionJob, cooperative cancel, failure modes.

A job runs its tasks one after the other on the server's event loop: `started`, then per task a
`status` ("Loading model ..."), `progress`/`preview` events for loading, text encoding, every
denoising step and decoding, `stream` lines, and `completed`. Cancelling is cooperative, as in
WanGP: the flag is checked between steps, and the job ends with the "Generation was cancelled"
error. Failure simulation (dev-only): the next job's first task fails after its first step with
WanGP's out-of-VRAM message (`oom`) or its generic error message (`error`); the modes of
real_modes.py reproduce what the real server did: weights it cannot download (`no-weights`), a
cancel it honours only after loading (`slow-cancel`), real-shaped events in real volume (`flood`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import time
import uuid
from collections import deque
from typing import Any

from . import real_modes
from .catalogue import Catalogue
from .gallery import Gallery
from .media import output_name, render_video

log = logging.getLogger("devservers.wan2gp")

FAIL_MODES = ("oom", "error", *real_modes.REAL_MODES)
OOM_MESSAGE = (
    "The generation of the video has encountered an error: it is likely that you have unsufficient VRAM and you"
    " should therefore reduce the video resolution or its number of frames."
)
ERROR_MESSAGE = (
    "The generation of the video has encountered an error, please check your terminal for more information."
    " 'reference server: simulated failure (fail-next error)'"
)
CANCEL_MESSAGE = "Generation was cancelled"
MEDIA_KEYS = (
    "image_start", "image_end", "image_refs", "image_guide", "image_mask", "video_source", "video_guide",
    "video_mask", "audio_guide", "audio_guide2", "audio_source",
)  # fmt: skip
GALLERY_ID = re.compile(r"^(visual|audio):[0-9a-f]{12}$")
MAX_EVENTS = 500
REQUEST_LOG = (  # two console lines of mcp's request log, as captured
    "                    INFO     Processing request of type            server.py:619",
    "                             CallToolRequest                                    ",
)


class ToolError(Exception):
    """Raised inside a tool: becomes "Error executing tool <name>: <message>" with isError."""


class Job:
    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        self.job_id = uuid.uuid4().hex
        self.created_at = self.updated_at = time.time()
        self.tasks = tasks
        self.events: list[dict[str, Any]] = []
        self.done = False
        self.cancel_requested = False
        self.result: dict[str, Any] | None = None
        self.finished = asyncio.Event()

    def emit(self, kind: str, data: Any) -> None:
        now = time.time()
        self.events.append({"kind": kind, "timestamp": now, "data": data})
        del self.events[:-MAX_EVENTS]
        self.updated_at = now

    def finish(self, result: dict[str, Any], *, events: bool = True) -> None:
        if events:
            self.emit("completed", {k: v for k, v in result.items() if k != "gallery_items"})
        self.result = result
        self.done = True
        self.updated_at = time.time()
        self.finished.set()

    def snapshot(self, event_limit: int) -> dict[str, Any]:
        limit = max(0, min(MAX_EVENTS, event_limit))
        return {
            "job_id": self.job_id,
            "done": self.done,
            "cancel_requested": self.cancel_requested,
            "webui_submission_ready": False,
            "webui_load_queue_token": "",
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "events": [dict(e) for e in self.events[-limit:]] if limit else [],
            "result": self.result,
        }


class Jobs:
    def __init__(self, catalogue: Catalogue, gallery: Gallery, output_dir: str, step_seconds: float) -> None:
        self.catalogue = catalogue
        self.gallery = gallery
        self.output_dir = output_dir
        self.step_seconds = step_seconds
        self.jobs: dict[str, Job] = {}
        self.active: Job | None = None
        self.fail_next: deque[str] = deque()
        self._tasks: set[asyncio.Task] = set()

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise KeyError(f"Unknown WanGP job_id: {job_id}")
        return job

    def busy(self) -> bool:
        return self.active is not None and not self.active.done

    def add_fail_next(self, mode: str) -> None:
        if mode not in FAIL_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; use one of {', '.join(FAIL_MODES)}")
        self.fail_next.append(mode)

    def log_request(self) -> None:
        """The real server's job streams capture the whole process's console, its request log included."""
        if self.active is not None and not self.active.done:
            self.active.emit("stream", {"stream": "stderr", "text": REQUEST_LOG[0]})
            self.active.emit("stream", {"stream": "stderr", "text": REQUEST_LOG[1]})

    def submit(self, source: Any) -> Job:
        if self.busy():
            raise ToolError("WanGP session already has a generation in progress")
        tasks = [self._settings(task) for task in _tasks_of(source)]
        if not tasks:
            raise ToolError("source holds no task")
        job = Job(tasks)
        self.jobs[job.job_id] = job
        job.emit("started", {"tasks": len(tasks)})
        if any(t.get("model_type") not in self.catalogue for t in tasks):
            # What the real server does with an unknown model_type: done at once, a runtime error.
            job.finish(_result(errors=[_error("'NoneType' object has no attribute 'get'", None, "runtime")],
                               total=len(tasks)), events=False)  # fmt: skip
            return job
        self.active = job
        task = asyncio.ensure_future(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.cancel_requested = True
        job.updated_at = time.time()
        return job

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # --- running ------------------------------------------------------------------------------

    def _settings(self, task: dict[str, Any]) -> dict[str, Any]:
        settings = task.get("settings") or task.get("params") or task
        if not isinstance(settings, dict):
            raise ToolError("Each task must be a settings dict")
        for key in MEDIA_KEYS:
            values = settings.get(key)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and value and not GALLERY_ID.match(value):
                    raise ToolError(
                        f"Direct filesystem paths are disabled for this MCP server. Use a Gallery id for {key},"
                        " or restart with filesystem reads enabled."
                    )
                if isinstance(value, str) and value:
                    self.gallery.find(value)  # KeyError: 'Unknown WanGP gallery_id: ...'
        model_type = settings.get("model_type")
        if isinstance(model_type, str) and model_type in self.catalogue:
            return {**self.catalogue.defaults(model_type), **settings}
        return dict(settings)

    async def _run(self, job: Job) -> None:
        errors: list[dict[str, Any]] = []
        files: list[str] = []
        items: list[dict[str, Any]] = []
        cancelled = False
        failure = self.fail_next.popleft() if self.fail_next else None
        try:
            for number, settings in enumerate(job.tasks, start=1):
                if job.cancel_requested:
                    cancelled = True
                    break
                try:
                    path = await self._task(job, number, settings, failure if number == 1 else None)
                except _Cancelled:
                    cancelled = True
                    break
                except _TaskFailed as exc:
                    error = _error(str(exc), number, exc.stage)
                    job.emit("error", error)
                    errors.append(error)
                    continue
                files.append(path)
                items.append(self.gallery.add(path, "video", settings))
            if errors and job.cancel_requested:  # asked while a task failed without looking at the flag
                cancelled = True
            if cancelled:
                error = _error(CANCEL_MESSAGE, number, "cancelled", cancelled=True)
                job.emit("error", error)
                errors.append(error)
        except Exception as exc:  # a bug here must still end the job, like WanGP's runtime errors
            log.exception("reference job %s crashed", job.job_id)
            errors.append(_error(f"{type(exc).__name__}: {exc}", None, "runtime"))
        finally:
            failed = len({e["task_index"] for e in errors if e["task_index"] is not None})
            job.finish(_result(files=files, errors=errors, total=len(job.tasks), ok=len(files), failed=failed,
                               cancelled=cancelled, items=items))  # fmt: skip
            if self.active is job:
                self.active = None

    async def _task(self, job: Job, number: int, settings: dict[str, Any], failure: str | None) -> str:
        model_type = str(settings["model_type"])
        facts = self.catalogue.video_facts(model_type)
        record = self.catalogue.record(model_type)
        if "video" not in record["outputs"]:
            raise _TaskFailed(f"the reference server only renders video models, not {model_type}", "generation")
        width, height = _resolution(settings.get("resolution"), facts["block"])
        fps = float(settings.get("force_fps") or facts["fps"])
        frames = _frames(settings.get("video_length"), fps, facts["frames_minimum"], facts["frames_steps"])
        steps = max(1, int(settings.get("num_inference_steps") or 30))
        seed = int(settings.get("seed", -1))
        seed = random.randint(0, 999_999_999) if seed < 0 else seed
        prompt = str(settings.get("prompt") or "")
        total = len(job.tasks)

        job.emit("status", f"Loading model {facts['name']}...")
        job.emit("stream", {"stream": "stdout", "text": f"[Task {number}/{total}] {prompt[:60]}"})
        if failure == "no-weights":
            raise _TaskFailed(await real_modes.fetch_weights_offline(job, self.step_seconds), "generation")
        if failure == "slow-cancel":
            await real_modes.load_slowly(job, self.step_seconds)
        await self._phase(job, "loading_model", "Loading model")
        if failure == "flood":
            real_modes.encoding_as_inference(job)
        await self._phase(job, "encoding_text", "Encoding prompt")
        started = time.monotonic()
        for step in range(1, steps + 1):
            await self._sleep(job, self.step_seconds)
            if failure == "flood":
                real_modes.flood(job, step, steps, started, self.step_seconds)
            progress = {"phase": "inference", "status": "Denoising", "progress": round(100 * step / steps),
                        "current_step": step, "total_steps": steps}  # fmt: skip
            job.emit("progress", {**progress, "raw_phase": "Denoising", "unit": "steps"})
            job.emit("preview", {"has_image_preview": False, **progress})
            job.emit("stream", {"stream": "stderr", "text": f"{progress['progress']:3d}%| {step}/{steps} steps"})
            if failure == "oom":
                raise _TaskFailed(OOM_MESSAGE, "generation")
            if failure == "error":
                raise _TaskFailed(ERROR_MESSAGE, "generation")
        await self._phase(job, "decoding", "VAE Decoding")
        init_image = None
        if settings.get("image_start"):  # WanGP adds the "S" flag to image_prompt_type itself
            first = settings["image_start"]
            init_image = self.gallery.find(first[0] if isinstance(first, list) else first).path
        os.makedirs(self.output_dir, exist_ok=True)
        path = output_name(prompt, seed, self.output_dir)
        caption = f"{facts['name']} - seed {seed} - {steps} steps - {fps:g} fps"
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: render_video(path, width=width, height=height, frames=frames, fps=fps, seed=seed,
                                       prompt=prompt, caption=caption, init_image=init_image),
        )  # fmt: skip
        job.emit("progress", {"phase": "decoding", "status": "VAE Decoding", "progress": 100, "current_step": None,
                              "total_steps": None, "raw_phase": "VAE Decoding", "unit": None})  # fmt: skip
        job.emit("stream", {"stream": "stdout", "text": f"Video saved to {path}"})
        return path

    async def _phase(self, job: Job, phase: str, status: str) -> None:
        data = {"phase": phase, "status": status, "progress": 0, "current_step": None, "total_steps": None}
        job.emit("progress", {**data, "raw_phase": status, "unit": None})
        await self._sleep(job, self.step_seconds)

    async def _sleep(self, job: Job, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if job.cancel_requested:
            raise _Cancelled()


class _Cancelled(Exception):
    pass


class _TaskFailed(Exception):
    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


def _tasks_of(source: Any) -> list[dict[str, Any]]:
    if isinstance(source, list):
        return [t for s in source for t in _tasks_of(s)]
    if isinstance(source, dict) and isinstance(source.get("tasks"), list):
        return [t for t in source["tasks"] if isinstance(t, dict)]
    return [source]


def _error(message: str, task: int | None, stage: str, *, cancelled: bool = False) -> dict[str, Any]:
    return {"message": message, "task_index": task, "task_id": task, "stage": stage, "cancelled": cancelled}


def _result(*, files: list[str] | None = None, errors: list[dict[str, Any]] | None = None, total: int = 1,
            ok: int = 0, failed: int = 0, cancelled: bool = False,
            items: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    errors = errors or []
    return {
        "success": not errors and ok == total,
        # As the real GenerationResult: cancelled only if every error is the cancel (a download
        # that failed before the cancel was seen leaves it False).
        "cancelled": cancelled and all(e["cancelled"] for e in errors),
        "generated_files": list(files or []),
        "errors": errors,
        "total_tasks": total,
        "successful_tasks": ok,
        "failed_tasks": failed,
        "artifacts": [],
        "gallery_items": list(items or []),
    }


def _resolution(value: Any, block: int) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", str(value or "832x480"))
    if not match:
        raise _TaskFailed(f"Invalid resolution '{value}'", "validation")
    width, height = int(match.group(1)), int(match.group(2))
    width, height = max(block, width // block * block), max(block, height // block * block)
    return width, height


def _frames(value: Any, fps: float, minimum: int, step: int) -> int:
    if isinstance(value, str) and value.strip().endswith("s"):
        try:
            value = round(float(value.strip()[:-1]) * fps) + 1
        except ValueError:
            raise _TaskFailed(f"Invalid video_length '{value}'", "validation") from None
    try:
        frames = int(value if value is not None else 81)
    except (TypeError, ValueError):
        raise _TaskFailed(f"Invalid video_length '{value}'", "validation") from None
    return max(minimum, minimum + (frames - minimum) // step * step)
