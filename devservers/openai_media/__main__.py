"""CLI: `python -m devservers.openai_media --port PORT [...]`.

Prints `OpenAI media reference server listening on http://127.0.0.1:PORT` (flushed) once it serves.
"""

from __future__ import annotations

import argparse
import sys

from ..common.cli import add_bind_arguments, serve
from .server import DEFAULT_VIDEO_SECONDS, OpenAIMediaServer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devservers.openai_media", description=__doc__)
    add_bind_arguments(parser, 4010)
    parser.add_argument("--api-key", default=None, help="require `Authorization: Bearer KEY` (default: no check)")
    parser.add_argument("--output-dir", help="where images and videos are written (default: a temporary folder)")
    parser.add_argument("--video-job-seconds", type=float, default=1.0, help="time a video job takes (default 1)")
    parser.add_argument("--video-fps", type=float, default=24.0, help="frame rate of the videos (default 24)")
    parser.add_argument(
        "--video-seconds",
        default=",".join(DEFAULT_VIDEO_SECONDS),
        help="accepted values of `seconds` for videos (default 4,8,12)",
    )
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return serve(
        lambda: OpenAIMediaServer(
            host=args.host,
            port=args.port,
            api_key=args.api_key,
            output_dir=args.output_dir,
            video_job_seconds=args.video_job_seconds,
            video_fps=args.video_fps,
            video_seconds=[s.strip() for s in args.video_seconds.split(",") if s.strip()],
            allow_remote=args.allow_remote,
        ),
        ready="OpenAI media reference server listening on {url}",
        describe=lambda server: f"output: {server.output_dir}",
        verbose=args.verbose,
    )


if __name__ == "__main__":
    sys.exit(main())
