"""ComfyUI backend: API-format workflow templates sent to a ComfyUI server.

`client` speaks the HTTP and websocket protocol, `templates` loads workflows and
their parameter bindings, `backend` runs one shot as one prompt.
"""

from .backend import ComfyUIBackend, ServerProbe
from .client import ComfyEvent, ComfyEventStream, ComfyUIClient, EventStreamClosed
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
