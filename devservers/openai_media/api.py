"""OpenAI's error envelope as the reference endpoint answers it, the request values it checks, and
the failures a prompt asks for (`[[fail:MODE]]`, see server.py)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from aiohttp import web

MAX_UPLOAD = 25 * 1024 * 1024  # OpenAI's limit for /audio/transcriptions
_FAIL = re.compile(r"\[\[fail:(\w+)\]\]")
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")


class ApiError(Exception):
    """Answered as OpenAI's error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return web.json_response(body, status=self.status, headers=self.headers)


def prompt_seed(prompt: str) -> int:
    return int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big")


def parse_size(value: Any, *, default: str, max_side: int, param: str = "size") -> tuple[int, int]:
    text = str(value or default).strip().lower()
    if text == "auto":
        text = default
    match = _SIZE.match(text)
    if not match:
        raise ApiError(
            400, f"Invalid value: '{value}'. Expected a size like '1024x1024'.", param=param, code="invalid_value"
        )
    width, height = int(match.group(1)), int(match.group(2))
    if not (16 <= width <= max_side and 16 <= height <= max_side):
        raise ApiError(
            400,
            f"Invalid value: '{value}'. Each side must be between 16 and {max_side} pixels.",
            param=param,
            code="invalid_value",
        )
    return width, height


def fail_mode(prompt: str) -> str | None:
    match = _FAIL.search(prompt or "")
    return match.group(1) if match else None


def raise_for_fail_mode(mode: str | None, retry_after: float = 3.0) -> None:
    if mode == "content_policy":
        raise ApiError(
            400,
            "Your request was rejected as a result of our safety system. Your prompt may contain"
            " text that is not allowed by our safety system.",
            code="content_policy_violation",
        )
    if mode == "rate_limit":
        raise ApiError(
            429,
            "Rate limit reached for requests. Please try again in 20s.",
            type_="requests",
            code="rate_limit_exceeded",
        )
    if mode in ("rate_wait", "rate_wait_once"):
        wait = f"{retry_after:g}"
        raise ApiError(
            429,
            f"Rate limit reached for images per minute. Please try again in {wait}s.",
            type_="requests",
            code="rate_limit_exceeded",
            headers={"Retry-After": wait},
        )
    if mode == "server":
        raise ApiError(
            500, "The server had an error while processing your request. Sorry about that!", type_="server_error"
        )
