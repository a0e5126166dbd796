"""CLI: `python -m devservers.litellm [--port 4000] [--master-key KEY] [--dir DIR]`.

Starts the OpenAI media reference endpoint in this process and the real LiteLLM proxy (from the
litellm venv) in front of it, prints the proxy's URL, and runs until Ctrl+C.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile

from ..common.cli import stop_requested
from ..openai_media import OpenAIMediaServer
from .config import build_config
from .launch import ProxyStartError, start_proxy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devservers.litellm", description=__doc__)
    parser.add_argument("--port", type=int, default=4000, help="the proxy's port (default 4000; 0 = any free)")
    parser.add_argument("--master-key", default=None, help="default: a new random sk-dev-... key, printed")
    parser.add_argument("--dir", default=None, help="config, log and media folder (default: a temporary one)")
    parser.add_argument("--video-job-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    directory = args.dir or tempfile.mkdtemp(prefix="litellm-dev-")
    master_key = args.master_key or f"sk-dev-{secrets.token_hex(16)}"
    media_key = f"sk-media-{secrets.token_hex(8)}"
    media = OpenAIMediaServer(
        api_key=media_key, output_dir=f"{directory}/media", video_job_seconds=args.video_job_seconds
    )
    media.start()
    try:
        proxy = start_proxy(
            directory,
            build_config(master_key=master_key, media_url=media.url, media_api_key=media_key),
            master_key,
            port=args.port,
        )
    except (ProxyStartError, RuntimeError) as exc:
        media.stop()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"media reference endpoint: {media.url}", flush=True)
    print(
        f"LiteLLM proxy listening on {proxy.url} (started in {proxy.startup_seconds:.1f}s; log {proxy.log_path})",
        flush=True,
    )
    print(f"master key: {master_key}", flush=True)
    done = stop_requested()
    while not done.wait(0.5) and proxy.alive():
        pass
    proxy.stop()
    media.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
