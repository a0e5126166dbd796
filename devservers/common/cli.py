"""The command line every reference server shares: where it binds, and serving until Ctrl+C.

The ready line goes to stdout, flushed, once the port is bound: launchers (launch.py, the Blender
tests) wait for "... listening on http://HOST:PORT" and take the URL from it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from .runner import BackgroundServer

Server = TypeVar("Server", bound=BackgroundServer)


def add_bind_arguments(parser: argparse.ArgumentParser, port: int, port_help: str = "port; 0 picks a free one") -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only unless --allow-remote)")
    parser.add_argument("--port", type=int, default=port, help=port_help)
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")


def stop_requested(signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)) -> threading.Event:
    """An event that SIGINT (Ctrl+C) or SIGTERM (a launcher's stop) sets."""
    done = threading.Event()
    for sig in signals:
        signal.signal(sig, lambda *_: done.set())
    return done


def serve(
    make_server: Callable[[], Server],
    *,
    ready: str,
    describe: Callable[[Server], str],
    verbose: bool,
    sigterm_kills: bool = False,
) -> int:
    """Start the server, print `describe(server)` (stderr) and `ready` with "{url}" filled in
    (stdout), and serve until stopped. A bad option or a taken port is an error line and exit 1.

    `sigterm_kills`: SIGTERM keeps its default action, as for a server with no handler of its own
    (ComfyUI): the process dies where it is, finishing and interrupting nothing, and its connections
    drop. Otherwise SIGTERM stops the server as Ctrl+C does."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        server = make_server()
        url = server.start()
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    done = stop_requested((signal.SIGINT,) if sigterm_kills else (signal.SIGINT, signal.SIGTERM))
    print(describe(server), file=sys.stderr, flush=True)
    print(ready.format(url=url), flush=True)
    while not done.wait(0.5):
        pass
    server.stop()
    return 0
