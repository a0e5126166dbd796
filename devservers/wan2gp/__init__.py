"""Reference Wan2GP MCP server for development and tests (no models, no torch, no GPU).

It answers like the real Wan2GP 12.60 MCP server (`python wgp.py --mcp --mcp-transport
streamable-http`) as captured in protocols/wan2gp-captures/: streamable HTTP at /mcp/ (307 from
/mcp, 406 without both Accept types, 400 plain text for a wrong Content-Type, parse/validation
envelopes, 202 for notifications, no session id), the 22 tools with their captured schemas and
envelopes (isError texts included), jobs one at a time with WanGP-like events and cooperative
cancel, and the gallery's one-time upload/download URLs. Jobs produce real H.264 MP4 files whose
frames show the prompt, the seed and the frame number (a start image is the video's first frame).

* In a subprocess (what test suites should use)::

      from devservers.wan2gp.launch import start_server
      server = start_server(tmp_path, step_seconds=0.01)
      server.mcp_url        # "http://127.0.0.1:PORT/mcp/"
      server.stop()

* In-thread::

      from devservers.wan2gp import ReferenceWan2GP
      with ReferenceWan2GP(port=0) as server:
          server.mcp_url

* CLI: ``python -m devservers.wan2gp --port 7866 [--output-dir DIR] [--step-seconds S] [--fail-next MODE]
  [--weights downloaded|missing]``.

Failure simulation (dev-only, not in Wan2GP), consumed by the next job: ``--fail-next MODE``
(repeatable) or ``POST /reference/fail-next {"mode": "oom"}`` (``"none"`` clears; GET lists);
``GET /reference/state`` says whether a job runs (``ServerHandle.wait_idle()`` polls it). The
job's first task fails after its first denoising step with WanGP's own messages: "...it is likely
that you have unsufficient VRAM..." (oom) or "...please check your terminal for more
information. '...'" (error), as an `error` event and in `result.errors` (stage "generation").
The modes of real_modes.py reproduce what the real server did on the capture machine:
``no-weights`` (hub retries in wrapped console lines, then huggingface_hub's message; a cancel is
seen only after them), ``slow-cancel`` (a long model load deaf to cancel) and ``flood`` (status
lines with timings, "inference" while encoding the prompt, 120 console lines per step).
``--cut-downloads N`` (``cut_downloads=N``) sends only half of each of the next N gallery
downloads, then drops the connection (a download cut off after the job finished).

Known differences from the real server:

* the weights of a normal install: the Wan models it has run (catalogue.DOWNLOADED_MODELS) report
  availability "available", every other model "missing" (its first use downloads it; here it
  generates at once); ``--weights missing`` (``weights="missing"``) reports every model missing,
  as the capture machine did, and ``--available-model`` adds one; models not in
  the captures get a generic schema (16 fps, 5..97 frames) and the factory defaults; i2v_2_2 was
  not captured and is modelled on t2v_2_2;
* successful jobs were never observable on the capture machine: `progress`/`preview` event data,
  `result.gallery_items` (the gallery records of the new videos, with the task settings) and the
  output file names follow the source notes; a job reports `"cancelled": true` only when every
  error is the cancel (as the real GenerationResult);
* frames snap to the model's lattice (5 + 4k, rounded down) and sizes down to 16-pixel blocks
  (32 for the TI2V 5B), as WanGP's VAEs do; `force_fps` and `"10s"` lengths are honoured;
* post-processing and the toolbox answer only their discovery calls; `prompts/get` is refused;
  resources other than the prompt-flags page carry a placeholder text;
* the order of the Accept and Content-Type checks when both are wrong is a guess (Accept first).
"""

from .server import ReferenceWan2GP

__all__ = ["ReferenceWan2GP"]
