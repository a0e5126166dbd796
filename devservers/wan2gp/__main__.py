"""CLI: `python -m devservers.wan2gp --port PORT [--output-dir DIR] [--step-seconds S] [--fail-next oom|error]
[--weights downloaded|missing]`.

Prints `Wan2GP reference MCP server listening on http://127.0.0.1:PORT` (flushed) once it serves;
the MCP endpoint is that URL + `/mcp/`.
"""

from __future__ import annotations

import argparse
import sys

from ..common.auth import access_rule, add_access_arguments
from ..common.cli import add_bind_arguments, serve
from .catalogue import DOWNLOADED_MODELS, WEIGHTS_MODES
from .jobs import FAIL_MODES
from .server import ReferenceWan2GP
from .tools import DEFAULT_EVENT_LIMIT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devservers.wan2gp", description=__doc__)
    add_bind_arguments(parser, 7866, "port; 0 picks a free one (default 7866)")
    parser.add_argument("--output-dir", help="where videos and uploads go (default: a new temporary directory)")
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=0.05,
        help="time per denoising step, and per loading/encoding/decoding phase (default 0.05)",
    )
    parser.add_argument(
        "--fail-next",
        action="append",
        choices=FAIL_MODES,
        default=None,
        help="make the next job fail this way; repeatable (one per job)",
    )
    parser.add_argument(
        "--job-event-limit",
        type=int,
        default=DEFAULT_EVENT_LIMIT,
        help="events per job snapshot when a call gives no event_limit",
    )
    parser.add_argument(
        "--weights",
        choices=WEIGHTS_MODES,
        default=None,
        help="downloaded: a normal install, the Wan models it has run (" + ", ".join(DOWNLOADED_MODELS) + ") say"
        " 'available', the others 'missing'; missing: no model's weights are downloaded, as on the capture"
        " machine (default downloaded; missing when started with --fail-next no-weights)",
    )
    parser.add_argument(
        "--available-model",
        action="append",
        default=[],
        metavar="MODEL_TYPE",
        help="another model whose weights the server says it has (availability 'available'); repeatable",
    )
    parser.add_argument(
        "--cut-downloads",
        type=int,
        default=0,
        metavar="N",
        help="the next N gallery downloads send half the file, then drop the connection (default 0)",
    )
    add_access_arguments(parser)
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    return parser  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return serve(
        lambda: ReferenceWan2GP(
            host=args.host, port=args.port, output_dir=args.output_dir, step_seconds=args.step_seconds,
            fail_next=args.fail_next, event_limit=args.job_event_limit, allow_remote=args.allow_remote,
            available_models=args.available_model, weights=args.weights, cut_downloads=args.cut_downloads,
            access=access_rule(args),
        ),
        ready="Wan2GP reference MCP server listening on {url}",
        describe=lambda server: (
            f"output directory: {server.output_dir}; model weights {server.weights}; {server.access.describe()}"
        ),
        verbose=args.verbose,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
