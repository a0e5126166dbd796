"""Low-level ComfyUI client: one method per HTTP endpoint (its websocket events: event_stream.py).

Stdlib only (it ships with Blender), through the shared HTTP plumbing of backends/http.py.
Every failure leaves as one of the typed errors of backends/base.py, never as a
raw urllib or socket exception, so the scheduler can decide from the type alone.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ..answer import Answer
from ..base import BackendBusy, BackendError, InvalidRequest, ProtocolError
from ..credentials import with_server_credentials
from ..files import Verify, sanitize_filename, write_atomically
from ..http import (
    ErrorAnswer,
    json_object,
    json_request,
    multipart,
    read_all,
    read_init_image,
    send,
    snippet,
    stream,
)
from ..policy import DEFAULT_POLICY, TransportPolicy
from .errors import COMFYUI, is_comfy_rejection, rejection_error
from .event_stream import ComfyEventStream

OBJECT_INFO_FACTOR = 8  # /object_info may be this many times the answer limit


class ComfyUIClient:
    """Talks to one ComfyUI server. Holds no connection state, so one instance serves many threads."""

    def __init__(self, base_url: str, timeout: float = 30.0, *, policy: TransportPolicy = DEFAULT_POLICY) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.policy = with_server_credentials(policy, self.base_url, f"ComfyUI at {self.base_url}")

    # --- endpoints -------------------------------------------------------------------------

    def system_stats(self) -> dict[str, Any]:
        return self._json_object("GET", "/system_stats")

    def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        path = "/object_info" if node_class is None else f"/object_info/{urllib.parse.quote(node_class)}"
        # Every node of every custom node pack: real servers send several MiB, so it may take more.
        return self._json_object("GET", path, limit=OBJECT_INFO_FACTOR * self.policy.answer_bytes)

    def queue(self) -> dict[str, Any]:
        return self._json_object("GET", "/queue")

    def submit(
        self,
        prompt: Mapping[str, Any],
        client_id: str,
        prompt_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
    ) -> str:
        """Queue a prompt; return the prompt_id the server uses (old servers ignore ours)."""
        body: dict[str, Any] = {"prompt": prompt, "client_id": client_id}
        if prompt_id:
            body["prompt_id"] = prompt_id
        if extra_data:
            body["extra_data"] = dict(extra_data)
        answer = self._json_object("POST", "/prompt", body=body, rejected=rejection_error)
        server_id = answer.get("prompt_id")
        if not isinstance(server_id, str) or not server_id:
            raise ProtocolError(
                f"ComfyUI at {self.base_url} accepted the workflow but sent no prompt_id: {snippet(str(answer))}"
            )
        return server_id

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of one prompt, or None while it is queued or running (or unknown)."""
        answer = self._json_object("GET", f"/history/{urllib.parse.quote(prompt_id)}")
        entry = answer.get(prompt_id)
        if entry is None:
            return None
        if not isinstance(entry, dict):
            raise ProtocolError(f"ComfyUI at {self.base_url} sent a malformed history entry for {prompt_id}")
        return entry

    def download(self, file_ref: Mapping[str, Any], destination: str, *, verify: Verify | None = None) -> int:
        """Stream one output file (a {filename, subfolder, type} reference) to destination, atomically;
        `verify` checks the complete file before it takes its name."""
        query = {
            "filename": str(file_ref.get("filename", "")),
            "subfolder": str(file_ref.get("subfolder", "")),
            "type": str(file_ref.get("type", "output")),
        }
        what = f"output file '{query['filename']}'"
        response = self._open("GET", "/view", query=query, what=what, deadline=self.policy.download_seconds)
        with response:
            return write_atomically(stream(response, self.base_url, what, COMFYUI), destination, verify=verify)

    def upload_image(self, path: str, subfolder: str = "", *, overwrite: bool = False) -> str:
        """Upload a local image; return the name a LoadImage node needs (`subfolder/name`)."""
        content = read_init_image(path)
        filename = sanitize_filename(os.path.basename(path), fallback="init_image")
        fields = {"type": "input", "subfolder": subfolder, "overwrite": "true" if overwrite else "false"}
        body, content_type = multipart(fields, [("image", filename, content)])
        answer = self._json_object(
            "POST", "/upload/image", raw_body=body, content_type=content_type, what=f"upload of {filename}"
        )
        name = answer.get("name")
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"ComfyUI at {self.base_url} accepted the upload but named no file")
        server_subfolder = str(answer.get("subfolder") or "")
        return f"{server_subfolder}/{name}" if server_subfolder else name

    def interrupt(self, prompt_id: str | None = None) -> None:
        """Stop the running prompt. With a prompt_id, new servers stop only that one."""
        self._call_without_answer("POST", "/interrupt", {"prompt_id": prompt_id} if prompt_id else {})

    def delete_from_queue(self, ids: list[str]) -> None:
        """Remove pending prompts; the running one is not affected (use interrupt)."""
        self._call_without_answer("POST", "/queue", {"delete": list(ids)})

    def events(self, client_id: str, *, connect_timeout: float | None = None) -> ComfyEventStream:
        """A connected websocket event stream for this client_id (use as a context manager)."""
        stream = ComfyEventStream(
            self.base_url, client_id, connect_timeout=connect_timeout or self.timeout, policy=self.policy
        )
        stream.connect()
        return stream

    # --- plumbing --------------------------------------------------------------------------

    def _call_without_answer(self, method: str, path: str, body: Any) -> None:
        with self._open(method, path, body=body) as response:
            read_all(response, self.base_url, COMFYUI)

    def _json_object(self, method: str, path: str, *, limit: int | None = None, **kwargs: Any) -> dict[str, Any]:
        with self._open(method, path, **kwargs) as response:
            raw = read_all(response, self.base_url, COMFYUI, limit=limit, what=f"its answer to {method} {path}")
        return json_object(
            raw,
            self.base_url,
            path,
            COMFYUI,
            hint="Is this address really a ComfyUI server (and not another program or a proxy page)?",
        )

    def _open(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        raw_body: bytes | None = None,
        content_type: str = "application/json",
        rejected: Any = None,
        what: str = "",
        deadline: float | None = None,
    ) -> Answer:
        url = self.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = json_request(url, method, body=body, raw_body=raw_body, content_type=content_type)
        try:
            return send(request, self.timeout, self.base_url, COMFYUI, policy=self.policy, deadline=deadline)
        except ErrorAnswer as answer:
            # ComfyUI itself answers a refused workflow with 400 (403 on some versions) and its JSON
            # error; a 401, or a 403 without that JSON, comes from what guards the server.
            if rejected is not None and answer.status in (400, 409):
                raise rejected(answer.status, answer.body, self.base_url) from None
            if rejected is not None and answer.status == 403 and is_comfy_rejection(answer.body):
                raise rejected(answer.status, answer.body, self.base_url) from None
            if answer.status in (401, 403):
                raise self.policy.credentials.refused(answer.status, what or f"{method} {path}") from None
            raise self._status_error(answer.status, answer.body, what or f"{method} {path}") from None

    def _status_error(self, status: int, body: bytes, what: str) -> BackendError:
        detail = snippet(body) or "(empty answer)"
        if status in (429, 503):
            return BackendBusy(
                f"ComfyUI at {self.base_url} is busy (HTTP {status}) for {what}", hint="It will be tried again shortly."
            )
        if status in (400, 404) and what.startswith("output file"):
            return ProtocolError(
                f"ComfyUI at {self.base_url} listed {what} but cannot serve it (HTTP {status})",
                hint="The file may have been moved or deleted on the server; generate again.",
            )
        if status == 413:
            return InvalidRequest(
                f"ComfyUI at {self.base_url} says {what} is too large (HTTP 413)",
                hint="Use a smaller init image or raise ComfyUI's --max-upload-size.",
            )
        if status >= 500:
            return ProtocolError(
                f"ComfyUI at {self.base_url} failed with an internal error (HTTP {status}) for {what}: {detail}",
                hint="See the ComfyUI console for the reason.",
            )
        if status == 404:  # a core endpoint missing: the address is not a ComfyUI server's root
            error = ProtocolError(
                f"ComfyUI at {self.base_url} has no {what} endpoint (HTTP 404): {detail}",
                hint=f"Is {self.base_url} the root address of a ComfyUI server (like http://127.0.0.1:8188)?",
            )
            error.address_failure = True
            return error
        return ProtocolError(f"ComfyUI at {self.base_url} answered {what} with HTTP {status}: {detail}")
