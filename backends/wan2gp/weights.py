"""Reading a failed job's console lines for the one fact that matters: which weights file Wan2GP could
not download, and whether its machine can reach the internet at all.

Real Wan2GP 12.60 without internet fails every model on the first file it fetches (a pose model all
models share), after the hub client's retries, with huggingface_hub's generic message. The file and
the cause are only in the job's `stream` events: the hub client's warnings, wrapped by the console
logger into lines of a few dozen characters ("... thrown while requesting HEAD https://huggingface.co/
DeepBeepMeep/Wa" / "n2.1/resolve/main/pose/dw-ll_ucoco_384" / ".onnx"). Unwrapped, the URL reads again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# huggingface_hub's messages when a file is neither downloadable nor in the local cache.
HUB_MESSAGE_MARKERS = (
    "locate the file on the hub",
    "check your connection",
    "huggingface.co",
    "localentrynotfounderror",
    "max retries exceeded",
    "cannot find the requested files in the local cache",
)
_OFFLINE_MARKERS = (
    "nameresolutionerror",
    "failed to resolve",
    "name or service not known",
    "temporary failure in name resolution",
    "network is unreachable",
    "no route to host",
)
_LOG_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+)?")
_LOG_SUFFIX = re.compile(r"\s+[\w.]+\.py:\d+\s*$")
_HUB_FILE = re.compile(
    r"huggingface\.co/(?P<repo>[\w.\-]+/[\w.\-]+)/resolve/[\w.\-]+/"
    r"(?P<file>[\w.\-/]+?\.(?:onnx|safetensors|sft|pth|pt|bin|gguf|ckpt|json|txt|model))"
)


@dataclass(frozen=True)
class HubFailure:
    """Wan2GP could not download weights: which file (if its console said), and whether it is offline."""

    file: str = ""
    repo: str = ""
    offline: bool = False

    def describe(self) -> str:
        if not self.file:
            return "model weights from the Hugging Face hub"
        return f"{self.file} (from {self.repo} on the Hugging Face hub)" if self.repo else self.file


def hub_failure(messages: Iterable[str], stream_lines: Iterable[str]) -> HubFailure | None:
    """What the job's errors and console lines say about a failed weights download; None if nothing."""
    lines = list(stream_lines)
    said = " ".join(messages).lower()
    console = unwrap(lines)
    found = _HUB_FILE.search(console)
    lowered = f"{said} {console.lower()}"
    told = any(marker in said for marker in HUB_MESSAGE_MARKERS)
    # A hub URL alone is not a failure (a download may have logged it): it must have failed there.
    if not told and (found is None or not any(word in lowered for word in ("retry", "error", "exception"))):
        return None
    offline = any(marker in lowered for marker in _OFFLINE_MARKERS)
    if found is None:
        return HubFailure(offline=offline)
    return HubFailure(found["file"], found["repo"], offline)


def unwrap(lines: Iterable[str]) -> str:
    """The console lines as one text, each without the logger's time, level and source columns."""
    return "".join(_LOG_SUFFIX.sub("", _LOG_PREFIX.sub("", line)).strip() for line in lines)
