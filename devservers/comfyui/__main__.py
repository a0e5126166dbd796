"""CLI: `python -m devservers.comfyui --port PORT [...]`.

Prints `ComfyUI reference server listening on http://127.0.0.1:PORT` (flushed) once it serves.
"""

from __future__ import annotations

import argparse
import sys

from ..common.auth import access_rule, add_access_arguments, masked
from ..common.cli import add_bind_arguments, serve
from .catalogue import DEFAULT_MODELS
from .executor import FAIL_MODES
from .server import ReferenceComfyUI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devservers.comfyui", description=__doc__)
    add_bind_arguments(parser, 8188)
    parser.add_argument("--output-dir", help="output directory (default: a new temporary directory)")
    parser.add_argument("--input-dir", help="input directory (uploads, LoadImage)")
    parser.add_argument("--temp-dir", help="temp directory (PreviewImage)")
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="FOLDER/FILENAME",
        help="a model file the server pretends to have; repeatable; replaces the defaults "
        f"(the {len(DEFAULT_MODELS)} files the bundled templates name)",
    )
    parser.add_argument("--no-default-models", action="store_true", help="start with no models at all")
    parser.add_argument("--step-seconds", type=float, default=0.05, help="time per sampler step (default 0.05)")
    parser.add_argument(
        "--vram-gb",
        type=float,
        default=None,
        help="report a CUDA device named 'reference' with this much VRAM in /system_stats",
    )
    parser.add_argument(
        "--fail-next",
        action="append",
        choices=FAIL_MODES,
        default=None,
        help="make the next executed prompt fail this way; repeatable (one per prompt)",
    )
    parser.add_argument(
        "--preview-method",
        default="auto",
        choices=["auto", "latent2rgb", "taesd", "none"],
        help="sampler previews as binary websocket frames (real ComfyUI defaults to none)",
    )
    parser.add_argument(
        "--preview-format",
        default="png",
        choices=["png", "jpeg"],
        help="encoding of sampler previews (real ComfyUI sends jpeg; default png)",
    )
    parser.add_argument(
        "--slow-step-seconds",
        type=float,
        default=0.5,
        help="time per sampler step of a prompt made slow with --fail-next slow (default 0.5)",
    )
    parser.add_argument(
        "--damaged-model",
        action="append",
        default=[],
        metavar="FOLDER/FILENAME",
        help="a model file the server lists but whose loader fails as on a truncated file; repeatable",
    )
    parser.add_argument(
        "--interrupt-lag-seconds",
        type=float,
        default=0.0,
        help="after an interrupt the running node goes on this long before the prompt stops (real"
        " ComfyUI finishes the node it is in; default 0)",
    )
    parser.add_argument(
        "--cut-downloads",
        type=int,
        default=0,
        metavar="N",
        help="the next N /view downloads of outputs send half the file, then drop the connection (default 0)",
    )
    add_access_arguments(parser)
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    models = args.model if args.model is not None else ([] if args.no_default_models else None)
    return serve(
        lambda: ReferenceComfyUI(
            host=args.host,
            port=args.port,
            output_dir=args.output_dir,
            input_dir=args.input_dir,
            temp_dir=args.temp_dir,
            models=models,
            step_seconds=args.step_seconds,
            vram_gb=args.vram_gb,
            fail_next=args.fail_next,
            preview_method=args.preview_method,
            preview_format=args.preview_format,
            slow_step_seconds=args.slow_step_seconds,
            allow_remote=args.allow_remote,
            damaged_models=args.damaged_model,
            interrupt_lag_seconds=args.interrupt_lag_seconds,
            cut_downloads=args.cut_downloads,
            argv=["main.py", *masked(sys.argv[1:] if argv is None else argv)],
            access=access_rule(args),
        ),
        ready="ComfyUI reference server listening on {url}",
        describe=lambda server: f"directories: {server.directories}; {server.access.describe()}",
        verbose=args.verbose,
        sigterm_kills=True,  # ComfyUI's main.py handles Ctrl+C only: SIGTERM ends it mid-prompt
    )


if __name__ == "__main__":
    sys.exit(main())
