"""The transcription upload of the LiteLLM proxy: POST /v1/audio/transcriptions.

What the answer becomes (timed segments, subtitle cues) is transcribe.py's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ..base import InvalidRequest
from ..http import multipart
from .transport import NO_PROXY_RETRIES, ProxyTransport

MAX_TRANSCRIPTION_BYTES = 25 * 1024 * 1024  # OpenAI's limit; most providers behind LiteLLM share it


class TranscriptionRequests(ProxyTransport):
    """/v1/audio/transcriptions: part of LiteLLMClient."""

    def transcribe(
        self,
        path: str,
        model: str,
        *,
        language: str | None = None,
        prompt: str | None = None,
        response_format: str = "verbose_json",
        timestamp_granularities: Iterable[str] = ("segment",),
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST /v1/audio/transcriptions with the sound file; the JSON answer (verbose_json: segments)."""
        try:
            size = os.path.getsize(path)
            if size > MAX_TRANSCRIPTION_BYTES:
                raise InvalidRequest(
                    f"the sound file {os.path.basename(path)} is {size / 1e6:.0f} MB; transcription takes at most"
                    f" {MAX_TRANSCRIPTION_BYTES // (1024 * 1024)} MB",
                    hint="Transcribe a shorter range, or mix the sound down to a compressed file (MP3, FLAC).",
                )
            with open(path, "rb") as handle:
                content = handle.read()
        except OSError as exc:
            raise InvalidRequest(
                f"cannot read the sound file {path}: {exc.strerror or exc}", hint="Check the sound strip's file path."
            ) from exc
        fields: list[tuple[str, str]] = [("model", model), ("response_format", response_format)]
        if language:
            fields.append(("language", language))
        if prompt:
            fields.append(("prompt", prompt))
        fields.extend(("timestamp_granularities[]", value) for value in timestamp_granularities)
        raw, content_type = multipart(fields, [("file", os.path.basename(path) or "audio.wav", content)])
        return self._json(
            "POST",
            "/v1/audio/transcriptions",
            raw_body=raw,
            content_type=content_type,
            what="the transcription request",
            model=model,
            timeout=timeout,
            headers=NO_PROXY_RETRIES,
        )
