"""ComfyUI backend: API-format workflow templates sent to a ComfyUI server.

`client` speaks the HTTP protocol and `event_stream` the websocket one, `templates` loads
workflows and their parameter bindings (`binding`: the binding file's schema; `workflow`: a loaded
template and a shot applied to it), `backend` runs one shot as one prompt (`preflight`:
the server checks; `following`: the prompt followed and cancelled on the server; `events`:
websocket events -> progress; `outputs`: the take's files), `server_probe` reads what a server
says of itself.
"""

from .backend import ComfyUIBackend
from .client import ComfyUIClient
from .event_stream import ComfyEvent, ComfyEventStream, EventStreamClosed
from .server_probe import ServerProbe
from .templates import BUNDLED_TEMPLATE_DIR, ComfyTemplate, TemplateError, load_templates

__all__ = [
    "BUNDLED_TEMPLATE_DIR",
    "ComfyEvent",
    "ComfyEventStream",
    "ComfyTemplate",
    "ComfyUIBackend",
    "ComfyUIClient",
    "EventStreamClosed",
    "ServerProbe",
    "TemplateError",
    "load_templates",
]
