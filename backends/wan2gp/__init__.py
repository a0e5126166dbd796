"""Wan2GP backend: fast local video through Wan2GP's MCP server (JSON-RPC over streamable HTTP).

`client` speaks MCP and the gallery transfer URLs, `presets` picks the model by quality and GPU
memory (`models`: each model's facts), `settings` turns a shot into Wan2GP settings (resolution
buckets, 4n+1 frames, fps per model), `errors` maps every failure shape to a typed error,
`backend` runs one shot as one Wan2GP job (`model_checks`: the server's models and weights;
`following`: the job followed and cancelled; `outputs`: the take's files).
Wan2GP's Gradio UI is not an API and is never used.
"""

from .backend import Wan2GPBackend, Wan2GPProbe
from .client import DEFAULT_URL, JobEvent, JobSnapshot, ServerInfo, Wan2GPClient, mcp_endpoint
from .models import MODELS
from .presets import PRESETS, Wan2GPPreset
from .settings import build_settings, snap_frame_count, snap_resolution

__all__ = [
    "DEFAULT_URL",
    "MODELS",
    "PRESETS",
    "JobEvent",
    "JobSnapshot",
    "ServerInfo",
    "Wan2GPBackend",
    "Wan2GPClient",
    "Wan2GPPreset",
    "Wan2GPProbe",
    "build_settings",
    "mcp_endpoint",
    "snap_frame_count",
    "snap_resolution",
]
