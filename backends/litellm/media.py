"""Media endpoints of the LiteLLM proxy: image generation and the OpenAI video jobs, and what they cost."""

from __future__ import annotations

import base64
import math
import os
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..answer import TooLarge
from ..base import ProtocolError
from ..exchange import check_handed_back
from ..files import Verify, write_atomically
from ..http import ErrorAnswer, multipart, read_all, read_init_image, send, stream
from ..numbers import finite
from ..policy import BASE64_FACTOR, describe_bytes
from .errors import LITELLM, snippet
from .transport import NO_PROXY_RETRIES, ProxyTransport


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes | None = None  # decoded b64_json
    url: str = ""  # or a URL to fetch it from
    revised_prompt: str = ""


@dataclass(frozen=True)
class VideoJob:
    """OpenAI's Video object as the proxy returns it (`id` is LiteLLM's encoded id)."""

    id: str
    status: str  # queued | in_progress | completed | failed
    progress: float = 0.0  # 0..100
    model: str = ""
    seconds: str = ""
    size: str = ""
    error: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed", "cancelled", "expired")


class MediaRequests(ProxyTransport):
    """/v1/images/generations and /v1/videos: part of LiteLLMClient."""

    def generate_images(
        self,
        model: str,
        prompt: str,
        *,
        size: str | None = None,
        n: int = 1,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        headers_out: dict[str, str] | None = None,
    ) -> list[GeneratedImage]:
        """POST /v1/images/generations; each image as bytes (b64_json) or a URL to fetch."""
        body: dict[str, Any] = {"model": model, "prompt": prompt, "n": n}
        if size:
            body["size"] = size
        body.update(extra or {})
        # Images may come inline as base64: the answer may hold n of them besides its own text.
        limit = self.policy.answer_bytes + max(1, n) * self.policy.base64_bytes
        answer = self._json(
            "POST",
            "/v1/images/generations",
            body=body,
            what="the image request",
            model=model,
            timeout=timeout,
            headers_out=headers_out,
            limit=limit,
            headers=NO_PROXY_RETRIES,
        )
        data = answer.get("data")
        if not isinstance(data, list) or not data:
            raise ProtocolError(
                f"LiteLLM at {self.base_url} answered the image request of '{model}' without images:"
                f" {snippet(str(answer))}"
            )
        images: list[GeneratedImage] = []
        for item in data:
            if not isinstance(item, dict):
                continue
            revised = str(item.get("revised_prompt") or "")
            if item.get("b64_json"):
                if len(item["b64_json"]) > self.policy.base64_bytes:
                    raise TooLarge(
                        f"LiteLLM at {self.base_url} sent an inline image larger than the limit of"
                        f" {describe_bytes(self.policy.base64_bytes)} of base64 ({BASE64_FACTOR} x"
                        f" {self.policy.answer_limit_text()})",
                        hint="Nothing was saved; if the image is genuine, raise the limit.",
                    )
                try:
                    images.append(GeneratedImage(base64.b64decode(item["b64_json"], validate=True), "", revised))
                except ValueError:
                    raise ProtocolError(f"LiteLLM at {self.base_url} sent an image that is not valid base64") from None
            elif isinstance(item.get("url"), str) and item["url"]:
                images.append(GeneratedImage(None, item["url"], revised))
        if not images:
            raise ProtocolError(
                f"LiteLLM at {self.base_url} answered the image request of '{model}' without image data or URL"
            )
        return images

    def save_image(self, image: GeneratedImage, destination: str, *, verify: Verify | None = None) -> int:
        """Write one generated image to destination, atomically (fetching it if it is a URL); `verify`
        checks the complete file before it takes its name."""
        if image.data is not None:
            return write_atomically([image.data], destination, verify=verify)
        check_handed_back(image.url, self.policy, f"LiteLLM at {self.base_url}", "an image")
        parts = urllib.parse.urlsplit(image.url)
        own = urllib.parse.urlsplit(self.base_url)
        same_host = (parts.scheme, parts.netloc) == (own.scheme, own.netloc)
        request = urllib.request.Request(image.url, method="GET")
        if same_host and self._key:  # never hand the key to a host the proxy points at
            request.add_header("Authorization", f"Bearer {self._key.reveal()}")
        try:
            response = send(
                request,
                self.timeout,
                f"{parts.scheme}://{parts.netloc}",
                LITELLM,
                policy=self.policy,
                deadline=self.policy.download_seconds,
            )
        except ErrorAnswer as answer:
            raise ProtocolError(
                f"the image at {parts.netloc} could not be downloaded (HTTP {answer.status})",
                hint="Its link may have expired; generate again.",
            ) from None
        with response:
            return write_atomically(stream(response, self.base_url, "the image", LITELLM), destination, verify=verify)

    # --- videos -------------------------------------------------------------------------------

    def create_video(
        self,
        model: str,
        prompt: str,
        *,
        seconds: str | int | None = None,
        size: str | None = None,
        input_reference: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers_out: dict[str, str] | None = None,
    ) -> VideoJob:
        """POST /v1/videos (JSON, or multipart with an `input_reference` image file)."""
        fields: dict[str, Any] = {"model": model, "prompt": prompt}
        if seconds is not None:
            fields["seconds"] = str(seconds)
        if size:
            fields["size"] = size
        fields.update(extra or {})
        if input_reference:
            content = read_init_image(input_reference)
            raw, content_type = multipart(
                {k: str(v) for k, v in fields.items()},
                [("input_reference", os.path.basename(input_reference), content)],
            )
            answer = self._json(
                "POST",
                "/v1/videos",
                raw_body=raw,
                content_type=content_type,
                what="the video request",
                model=model,
                headers_out=headers_out,
                headers=NO_PROXY_RETRIES,
            )
        else:
            answer = self._json(
                "POST", "/v1/videos", body=fields, what="the video request", model=model, headers_out=headers_out,
                headers=NO_PROXY_RETRIES,
            )  # fmt: skip
        return self._video(answer, model)

    def video_status(self, video_id: str, *, model: str = "", headers_out: dict[str, str] | None = None) -> VideoJob:
        answer = self._json(
            "GET",
            f"/v1/videos/{urllib.parse.quote(video_id, safe='')}",
            what="the video status",
            model=model,
            headers_out=headers_out,
            headers=NO_PROXY_RETRIES,  # the backend retries a failed poll itself
        )
        return self._video(answer, model)

    def download_video(
        self, video_id: str, destination: str, *, variant: str = "video", model: str = "", verify: Verify | None = None
    ) -> int:
        """Stream the finished video's content to destination, atomically (`verify` checks the
        complete file before it takes its name). Returns the byte count."""
        path = f"/v1/videos/{urllib.parse.quote(video_id, safe='')}/content"
        if variant != "video":
            path += "?" + urllib.parse.urlencode({"variant": variant})
        response = self._open(
            "GET", path, what="the video download", model=model, accept="*/*", deadline=self.policy.download_seconds,
            headers=NO_PROXY_RETRIES,  # a cut-off download is fetched again by Shotcaller (jobs/reattach.py), once
        )  # fmt: skip
        with response:
            return write_atomically(stream(response, self.base_url, "the video", LITELLM), destination, verify=verify)

    def delete_video(self, video_id: str) -> None:
        """Ask the provider to drop the video (OpenAI has no cancel; deleting is the closest)."""
        with self._open(
            "DELETE", f"/v1/videos/{urllib.parse.quote(video_id, safe='')}", what="the video deletion"
        ) as response:
            read_all(response, self.base_url, LITELLM)

    def _video(self, answer: dict[str, Any], model: str) -> VideoJob:
        video_id = answer.get("id")
        status = answer.get("status")
        if not isinstance(video_id, str) or not video_id or not isinstance(status, str):
            raise ProtocolError(
                f"LiteLLM at {self.base_url} sent a video object without id or status: {snippet(str(answer))}"
            )
        progress = min(100.0, max(0.0, finite(answer.get("progress")) or 0.0))
        error = answer.get("error") if isinstance(answer.get("error"), dict) else None
        return VideoJob(
            video_id,
            status,
            progress,
            str(answer.get("model") or model),
            str(answer.get("seconds") or ""),
            str(answer.get("size") or ""),
            error,
        )


def reported_cost(headers: dict[str, str]) -> float | None:
    """The proxy's `x-litellm-response-cost` for one call, None when it sent none (or nonsense)."""
    raw = headers.get("x-litellm-response-cost")
    try:
        cost = float(raw) if raw is not None else None
    except ValueError:
        return None
    return cost if cost is not None and math.isfinite(cost) and cost >= 0 else None
