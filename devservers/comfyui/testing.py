"""Small blocking HTTP + websocket helpers for tests that talk to the reference server.

    from devservers.comfyui.testing import Client, wan_prompt
    client = Client(server.url)
    with client.websocket("my-client") as ws:
        reply = client.post_json("/prompt", {"prompt": wan_prompt(), "client_id": "my-client"})
        messages = ws.collect(reply.json["prompt_id"])   # until `executing` {node: null}

Uses only the standard library plus `websocket-client` (dev dependency).
"""

from __future__ import annotations

import json
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from ..common.testing import Reply, fetch

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "comfyui"
TEMPLATE = TEMPLATES / "wan22_ti2v_5b_t2v.json"


def wan_prompt(
    text: str = "a lighthouse at dusk",
    *,
    width: int = 64,
    height: int = 64,
    length: int = 9,
    steps: int = 3,
    seed: int = 7,
    fps: float = 8.0,
    prefix: str = "video/ComfyUI",
) -> dict:
    """The project's Wan 2.2 t2v template with small settings."""
    prompt = json.loads(TEMPLATE.read_text())
    prompt["6"]["inputs"]["text"] = text
    prompt["55"]["inputs"].update(width=width, height=height, length=length)
    prompt["3"]["inputs"].update(steps=steps, seed=seed)
    prompt["57"]["inputs"]["fps"] = fps
    prompt["58"]["inputs"]["filename_prefix"] = prefix
    return prompt


def template_prompt(name: str, **inputs: dict[str, Any]) -> dict:
    """A bundled workflow (templates/comfyui/<name>.json) with some node inputs replaced:
    ``template_prompt("flux1_dev_t2i", **{"6": {"text": "a fox"}, "17": {"steps": 3}})``."""
    prompt = json.loads((TEMPLATES / f"{name}.json").read_text())
    for node_id, values in inputs.items():
        prompt[node_id]["inputs"].update(values)
    return prompt


def image_prompt(
    color: int = 0xFF8000, prefix: str = "test", width: int = 64, height: int = 48, batch: int = 1
) -> dict:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": width, "height": height, "batch_size": batch, "color": color},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


class Client:
    """`headers` go with every request and the websocket upgrade: the credentials of a server
    started with an AccessRule (devservers/common/auth.py)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None):
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        return fetch(self.url + path, method, body, {**self.headers, **(headers or {})})

    def get(self, path: str, **params: Any) -> Reply:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        return self.request("GET", path + query)

    def post_json(self, path: str, data: Any = None) -> Reply:
        body = b"" if data is None else json.dumps(data).encode()
        return self.request("POST", path, body, {"Content-Type": "application/json"})

    def submit(self, prompt: dict, client_id: str | None = None, **extra: Any) -> Reply:
        body: dict[str, Any] = {"prompt": prompt, **extra}
        if client_id is not None:
            body["client_id"] = client_id
        return self.post_json("/prompt", body)

    def wait_history(self, prompt_id: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get(f"/history/{prompt_id}").json
            if entry:
                return entry[prompt_id]
            time.sleep(0.02)
        raise TimeoutError(f"prompt {prompt_id} did not finish")

    def upload(self, name: str, content: bytes, **fields: str) -> Reply:
        boundary = uuid.uuid4().hex
        parts = []
        for key, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
        if name is not None:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n".encode()
                + content
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self.request("POST", "/upload/image", body, headers)

    def websocket(self, client_id: str | None = None, feature_flags: bool = False) -> Socket:
        return Socket(self.url, client_id, feature_flags, self.headers)


class Socket:
    """A websocket-client connection that decodes text and binary frames."""

    def __init__(self, url: str, client_id: str | None, feature_flags: bool, headers: dict[str, str] | None = None):
        import websocket

        query = f"?clientId={client_id}" if client_id else ""
        header = [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.ws = websocket.create_connection("ws" + url[4:] + "/ws" + query, timeout=30, header=header)
        self.hello = self.recv()
        if feature_flags:
            self.ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))

    def recv(self, timeout: float | None = None) -> dict:
        if timeout is not None:
            self.ws.settimeout(timeout)
        raw = self.ws.recv()
        if isinstance(raw, bytes):
            return decode_binary(raw)
        return json.loads(raw)

    def collect(self, prompt_id: str, timeout: float = 30.0) -> list[dict]:
        """All messages until `executing` with node null for this prompt."""
        messages = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.recv(timeout=max(0.1, deadline - time.monotonic()))
            messages.append(message)
            data = message.get("data", {})
            if message["type"] == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                return messages
        raise TimeoutError("prompt did not finish on the websocket")

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def decode_binary(raw: bytes) -> dict:
    """{"type": "binary", "event": 1|4, "image": bytes, "metadata": dict|None, "format": int|None}."""
    (event,) = struct.unpack(">I", raw[:4])
    if event == 4:
        (length,) = struct.unpack(">I", raw[4:8])
        return {
            "type": "binary",
            "event": 4,
            "metadata": json.loads(raw[8 : 8 + length]),
            "image": raw[8 + length :],
            "format": None,
        }
    (fmt,) = struct.unpack(">I", raw[4:8])
    return {"type": "binary", "event": event, "metadata": None, "image": raw[8:], "format": fmt}


def types(messages: list[dict]) -> list[str]:
    return [m["type"] if m["type"] != "binary" else f"BINARY{m['event']}" for m in messages]
