"""Failure modes that reproduce what the real Wan2GP 12.60 did (protocols/wan2gp-recorded.md, section 7).

- `no-weights`: the machine cannot reach the Hugging Face hub. The job's first task says "Loading
  model ...", then the hub client retries the first file every model needs (a pose model) five times,
  its warnings wrapped by the console logger into short `stream` lines, waiting 1, 2, 4, 8 and 16
  step-times between tries, and fails with huggingface_hub's message. A cancel is not seen during
  the retries (downloads are not cooperative), only after them.
- `slow-cancel`: loading the model takes 40 step-times and does not look at the cancel flag; the
  job stops at the first denoising step after it.
- `flood`: the job's events have the real shapes and volume: `status` lines with timings, a
  `progress` with phase "inference" while the prompt is encoded (the server's name for what it does
  not recognise), and 120 console lines per denoising step, so that a window of the last 50 events
  holds console lines only.
"""

from __future__ import annotations

import asyncio
import textwrap
import time
import uuid
from typing import Any, Protocol

REAL_MODES = ("no-weights", "slow-cancel", "flood")
HUB_MESSAGE = (
    "An error happened while trying to locate the file on the Hub and we cannot find the requested files in the"
    " local cache. Please check your connection and try again or make sure your Internet connection is on."
)
SHARED_WEIGHTS = ("DeepBeepMeep/Wan2.1", "pose/dw-ll_ucoco_384.onnx")  # fetched first for every model
HUB_RETRIES = 5
SLOW_LOADING_STEPS = 40
FLOOD_LINES_PER_STEP = 120
_WRAP = 38  # the message column of the console logger
_INDENT = " " * 30


class JobLike(Protocol):
    cancel_requested: bool

    def emit(self, kind: str, data: Any) -> None: ...


def console_warning(job: JobLike, text: str, source: str) -> None:
    """One warning as the console logger prints it: time and level on the first line, then wrapped."""
    chunks = textwrap.wrap(text, _WRAP, break_on_hyphens=False) or [""]
    stamp = time.strftime("[%m/%d/%y %H:%M:%S]")
    job.emit("stream", {"stream": "stderr", "text": f"{stamp} WARNING  {chunks[0]:<{_WRAP}} {source}"})
    for chunk in chunks[1:]:
        job.emit("stream", {"stream": "stderr", "text": f"{_INDENT}{chunk:<{_WRAP}}"})


async def fetch_weights_offline(job: JobLike, step_seconds: float) -> str:
    """The hub client's retries for the first weights file; returns the message the task fails with."""
    repo, path = SHARED_WEIGHTS
    url = f"https://huggingface.co/{repo}/resolve/main/{path}"
    for attempt in range(HUB_RETRIES + 1):
        reason = (
            f"'(MaxRetryError(\"HTTPSConnectionPool(host='huggingface.co', port=443): Max retries exceeded with"
            f' url: /{repo}/resolve/main/{path} (Caused by NameResolutionError("HTTPSConnection(host='
            f"'huggingface.co', port=443): Failed to resolve 'huggingface.co' ([Errno -2] Name or service not"
            f" known)\"))\"), '(Request ID: {uuid.uuid4()})')' thrown while requesting HEAD {url}"
        )
        console_warning(job, reason, "_http.py:320")
        if attempt == HUB_RETRIES:
            break
        delay = 2**attempt
        console_warning(job, f"Retrying in {delay}s [Retry {attempt + 1}/{HUB_RETRIES}].", "_http.py:329")
        await asyncio.sleep(step_seconds * delay)  # the cancel flag is not looked at while downloading
    return HUB_MESSAGE


async def load_slowly(job: JobLike, step_seconds: float) -> None:
    """Loading a model: long, and deaf to cancel, as on the real server."""
    await asyncio.sleep(step_seconds * SLOW_LOADING_STEPS)


def flood(job: JobLike, step: int, steps: int, started: float, step_seconds: float) -> None:
    """One denoising step's worth of real-shaped status and console output."""
    elapsed = time.monotonic() - started
    job.emit("status", f"Denoising | {elapsed:.1f}s / {step_seconds * steps:.1f}s")
    for line in range(FLOOD_LINES_PER_STEP):
        job.emit("stream", {"stream": "stdout", "text": f"  step {step}/{steps} console line {line + 1}"})


def encoding_as_inference(job: JobLike) -> None:
    """What the real server sends while encoding the prompt: a phase it calls "inference", no steps."""
    job.emit("progress", {"phase": "inference", "status": "Prompt 1/1", "progress": 15, "current_step": None,
                          "total_steps": None, "raw_phase": "Prompt 1/1", "unit": None})  # fmt: skip
