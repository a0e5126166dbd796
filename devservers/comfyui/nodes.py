"""Node implementations of the reference server, registered in NODES by class name: model_nodes.py
holds the model stand-ins, media_nodes.py the nodes that do their real work, node_types.py the
values they pass between them and the registry.

Nodes that need no model weights do their real work (EmptyImage, ImageScale, SaveImage, SaveVideo,
...). Model nodes are stand-ins: loaders return handles, text encoders return conditioning that
carries its text, the samplers (KSampler, KSamplerAdvanced, SamplerCustomAdvanced) wait
`step_seconds` per step while reporting progress, VAEDecode renders frames that show the positive
prompt, the seed and the frame number (over the start image, for image-to-video latents), and
VAEDecodeAudio renders a real sound of the latent's length: a tone whose pitch comes from the seed
(Stable Audio's latent) or a short arpeggio in a key from the seed (ACE-Step's latent).

The stand-ins cover every node of the bundled templates: Wan 2.2 TI2V 5B and 14B (text and image to
video), SDXL and FLUX.1 dev (text to image), Stable Audio Open (sound) and ACE-Step (music).

A node is `fn(ctx, **inputs) -> (outputs tuple, ui dict | None)`. Nodes of the catalogue that are
not implemented here are refused at validation, with a message saying so.
"""

from __future__ import annotations

# Importing the node modules registers their nodes in NODES.
from . import media_nodes, model_nodes  # noqa: F401
from .node_types import NODES, SAMPLERS, OutOfMemoryError, is_changed

__all__ = ["NODES", "SAMPLERS", "OutOfMemoryError", "is_changed"]
