"""Following a prompt on the server until it ends, and stopping it there.

The websocket (events.py) drives progress; /history, the source of truth, is polled whenever the
socket is down and now and then while it is up. A cancel deletes a queued prompt or interrupts a
running one; real ComfyUI finishes the node it is in first, so `_settle` waits until the prompt
has left the queue.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ...shots import ShotSpec
from ..base import BackendError, BackendUnreachable, Cancelled, ProtocolError, shot_cancelled
from ..forward_progress import MonotonicReporter
from ..server_job import ServerJob
from .client import ComfyUIClient
from .errors import error_from_history
from .event_stream import ComfyEventStream, EventStreamClosed
from .events import apply_event
from .progress import NodeProgress
from .workflow import ComfyTemplate

log = logging.getLogger(__name__)


class PromptFollowing:
    """How ComfyUIBackend follows and cancels its prompts; the backend provides the attributes below."""

    client: ComfyUIClient
    base_url: str
    display_name: str
    poll_interval: float
    history_grace: float
    settle_timeout: float

    def _open_stream(self, client_id: str, connect_timeout: float = 10.0) -> ComfyEventStream | None:
        try:
            return self.client.events(client_id, connect_timeout=min(self.client.timeout, connect_timeout))
        except BackendError as exc:
            # Without events the job still runs; /history polling follows it. A dead server
            # shows up at submission with a clearer error than a websocket one.
            log.info("%s: no event stream (%s); polling /history instead", self.display_name, exc)
            return None

    def _wait_for_completion(
        self,
        prompt_id: str,
        client_id: str,
        stream: ComfyEventStream | None,
        tracker: NodeProgress,
        progress: MonotonicReporter,
        cancel: threading.Event,
        template: ComfyTemplate,
        job: ServerJob,
        spec: ShotSpec,
    ) -> dict[str, Any] | None:
        """Block until the prompt finished (or its job deadline passed). Returns its history entry if
        polling saw it first."""
        # Even with a live socket, /history is read now and then: a completion that happened
        # while the socket was reconnecting would otherwise never be noticed.
        slow_poll = max(5.0, 5 * self.poll_interval)
        next_poll = time.monotonic() + (slow_poll if stream else 0.0)
        next_reconnect = time.monotonic() + self.poll_interval
        try:
            while True:
                if cancel.is_set():
                    running = self._cancel_on_server(prompt_id)
                    raise shot_cancelled(
                        spec,
                        f"ComfyUI at {self.base_url}",
                        prompt_id,
                        settle=(lambda stop: self._settle(prompt_id, stop)) if running else None,
                    )
                job.check()
                if stream is not None:
                    try:
                        event = stream.receive(timeout=0.2)
                    except EventStreamClosed as exc:
                        log.info("%s: %s; polling /history", self.display_name, exc)
                        stream, next_poll = None, 0.0
                        next_reconnect = time.monotonic() + self.poll_interval
                    else:
                        if event is not None and apply_event(
                            event, prompt_id, tracker, progress, self.base_url, template.required_models
                        ):
                            return None
                else:
                    cancel.wait(min(0.2, self.poll_interval))
                    if time.monotonic() >= next_reconnect:
                        stream = self._open_stream(client_id, connect_timeout=2.0)  # keeps cancel prompt
                        next_reconnect = time.monotonic() + max(2.0, 2 * self.poll_interval)
                if time.monotonic() >= next_poll:
                    entry = self._poll(prompt_id, template)
                    if entry is not None:
                        return entry
                    next_poll = time.monotonic() + (slow_poll if stream else self.poll_interval)
        finally:
            if stream is not None:
                stream.close()

    def _poll(
        self, prompt_id: str, template: ComfyTemplate | None = None, *, check_vanished: bool = True
    ) -> dict[str, Any] | None:
        """The finished history entry, None while queued or running; raises if it failed or vanished."""
        entry = self.client.history(prompt_id)
        if entry is None:
            if not check_vanished:
                return None
            if prompt_id in _queued_ids(self.client.queue()):
                return None
            # It may have finished between the two reads; a server that leaves the queue before
            # writing history gets a moment more before the job is declared lost.
            entry = self.client.history(prompt_id)
            if entry is None:
                time.sleep(0.2)
                if prompt_id in _queued_ids(self.client.queue()):
                    return None
                entry = self.client.history(prompt_id)
            if entry is None:
                raise Cancelled(
                    f"ComfyUI at {self.base_url} no longer has the job {prompt_id}: it was removed"
                    " from its queue or history",
                    hint="Someone cleared the ComfyUI queue; generate again.",
                )
        status = entry.get("status") if isinstance(entry.get("status"), dict) else None
        if status is not None and status.get("status_str") == "error":
            raise error_from_history(entry, self.base_url, template.required_models if template else ())
        return entry

    def _finished_history(self, prompt_id: str, template: ComfyTemplate | None = None) -> dict[str, Any]:
        # execution_success is sent before the history entry is written: wait for it briefly.
        deadline = time.monotonic() + self.history_grace
        delay = 0.02
        while True:
            entry = self._poll(prompt_id, template, check_vanished=False)
            if entry is not None:
                return entry
            if time.monotonic() >= deadline:
                raise ProtocolError(
                    f"ComfyUI at {self.base_url} reported a prompt done but has no history for it",
                    hint="See the ComfyUI console; generate again.",
                )
            time.sleep(delay)
            delay = min(0.5, delay * 2)

    def _cancel_on_server(self, prompt_id: str) -> bool:
        """Pending: delete from the queue. Running: interrupt that prompt (and only that one).

        True when the prompt was running: the server finishes the node it is in before it stops."""
        try:
            queue = self.client.queue()
            if prompt_id in _queued_ids(queue, "queue_pending"):
                self.client.delete_from_queue([prompt_id])
                queue = self.client.queue()  # it may have started meanwhile
            if prompt_id in _queued_ids(queue, "queue_running"):
                self.client.interrupt(prompt_id)
                return True
        except BackendError as exc:
            # A server that is gone has nothing left to cancel, and the shot's own failure already says it is
            # not there: a warning naming the settings would only send the user looking for a second fault.
            level = logging.INFO if isinstance(exc, BackendUnreachable) else logging.WARNING
            log.log(level, "%s: could not cancel %s on the server: %s", self.display_name, prompt_id, exc)
        return False

    def _settle(self, prompt_id: str, stop: threading.Event) -> None:
        """Wait until an interrupted prompt has left the server's queue: until then the server is busy with it."""
        deadline = time.monotonic() + self.settle_timeout
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if prompt_id not in _queued_ids(self.client.queue()):
                    return
            except BackendError as exc:  # gone or unreachable: the next job will find out and say so
                log.info("%s: stopped waiting for %s to stop: %s", self.display_name, prompt_id, exc)
                return
            stop.wait(min(self.poll_interval, 1.0))
        if not stop.is_set():  # Shotcaller closing is no reason to warn
            log.warning(
                "%s: prompt %s still running %.0f s after it was interrupted",
                self.display_name,
                prompt_id,
                self.settle_timeout,
            )


def _queued_ids(queue: dict[str, Any], *keys: str) -> set[str]:
    ids: set[str] = set()
    for key in keys or ("queue_running", "queue_pending"):
        for item in queue.get(key) or []:
            if isinstance(item, list | tuple) and len(item) > 1:
                ids.add(str(item[1]))
    return ids
