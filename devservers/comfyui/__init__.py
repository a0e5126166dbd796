"""Reference ComfyUI server for development and tests (no models, no torch).

It speaks the HTTP + websocket protocol recorded from a real ComfyUI 0.3.64 server
(validation errors, queue, history, /view, uploads, message order, binary previews) and runs every
bundled template (templates/comfyui: Wan 2.2 TI2V 5B and 14B text/image to video, SDXL and FLUX.1 dev
text to image, Stable Audio Open sound, ACE-Step music) with stand-in model nodes. Their outputs are
real media: videos and PNG stills that show the prompt text, seed and frame number (image-to-video
over the uploaded start image), FLAC sounds of the requested length (a tone pitched by the seed, or
an arpeggio in a key from the seed for music). By default the server has every model file those
templates name (catalogue.DEFAULT_MODELS).

* In a subprocess (what test suites should use)::

      from devservers.comfyui.launch import start_server
      server = start_server(tmp_path, step_seconds=0.01)
      server.url            # "http://127.0.0.1:PORT"
      server.stop()

* In-thread::

      from devservers.comfyui import ReferenceComfyUI
      with ReferenceComfyUI(port=0) as server:
          server.url

* CLI: ``python -m devservers.comfyui --port 8188`` (``--help`` lists the flags).

Failure simulation (dev-only, not in ComfyUI), consumed by the next prompt that runs a node:
``--fail-next oom|error|drop-ws|slow`` (repeatable) or ``POST /reference/fail-next {"mode": "oom"}``
(``"none"`` clears; ``GET /reference/fail-next`` lists). ``oom`` raises ``torch.OutOfMemoryError``
("Allocation on device ..." + ComfyUI's OOM tip) in the sampler after its first step, ``error`` a
RuntimeError, ``drop-ws`` cuts the client's websocket (no close frame) while the job carries on,
``slow`` makes every sampler step of that prompt take ``--slow-step-seconds`` (default 0.5).
Without a sampler in the prompt, the first node that runs fails instead.
``--cut-downloads N`` (``cut_downloads=N``) sends only half of each of the next N ``/view``
downloads of outputs, then drops the connection (a download cut off after the prompt finished).

Known differences from a real 0.3.64 server:

* sampler previews are sent by default (real default: none); ``--preview-method none`` or
  ``extra_data.preview_method = "none"`` turns them off; they are PNGs on every step unless
  ``--preview-format jpeg`` (what the real server sends); sound latents have none;
* prompt numbers start at 0; any string is accepted as ``prompt_id``; a duplicate (queued,
  running or in history) is answered 409 ``{"error": "prompt_id already exists"}``;
* VAEDecode of a video latent yields ``(length - 1) // 4 * 4 + 1`` frames and sizes floored to
  16 (Wan 2.2 5B) or 8 pixels, as the real VAEs do; a ``start_image`` becomes every frame's
  background; sounds last exactly the latent's seconds (the real VAEs round to their hop size);
* catalogue nodes without an implementation here are refused at validation (``invalid_prompt``,
  "... does not exist on the ComfyUI reference server: it lists the node in /object_info but cannot
  run it"); no jobs API, assets, credential_auth or custom nodes;
* model files named with ``damaged_models`` are listed like the others but their loader fails as a
  truncated safetensors file does (``safetensors_rust.SafetensorError``, "header too small");
* with ``interrupt_lag_seconds`` an interrupt lets the running node go on that long (real ComfyUI
  finishes the node it is in) before ``execution_interrupted``; the prompt stays in /queue meanwhile.
* a reconnect with the same clientId replaces the old socket; the old one closing later does not
  unregister the new one.
"""

from .server import ReferenceComfyUI

__all__ = ["ReferenceComfyUI"]
