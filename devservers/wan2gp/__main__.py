"""CLI: `python -m devservers.wan2gp --port PORT [--output-dir DIR] [--step-seconds S] [--fail-next oom|error]`.

Prints `Wan2GP reference MCP server listening on http://127.0.0.1:PORT` (flushed) once it serves;
the MCP endpoint is that URL + `/mcp/`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .jobs import FAIL_MODES
from .server import ReferenceWan2GP
from .tools import DEFAULT_EVENT_LIMIT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devservers.wan2gp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only unless --allow-remote)")
    parser.add_argument("--port", type=int, default=7866, help="port; 0 picks a free one (default 7866)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
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
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    return parser  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")  # fmt: skip
    try:
        server = ReferenceWan2GP(
            host=args.host, port=args.port, output_dir=args.output_dir, step_seconds=args.step_seconds,
            fail_next=args.fail_next, event_limit=args.job_event_limit, allow_remote=args.allow_remote,
        )  # fmt: skip
        url = server.start()
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"output directory: {server.output_dir}", file=sys.stderr, flush=True)
    print(f"Wan2GP reference MCP server listening on {url}", flush=True)
    while not done.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
