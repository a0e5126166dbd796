"""The /v1/audio/transcriptions endpoint of the OpenAI media reference server: segments whose times
come from the sound (speech.py), answered as json, text, srt, vtt or verbose_json."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .api import MAX_UPLOAD, ApiError
from .speech import UndecodableAudio, recognise


class TranscriptionEndpoints:
    """The transcription endpoint of OpenAIMediaServer, which holds what it uses (declared here)."""

    _record: Callable[[web.Request, dict[str, Any]], None]
    _fail_for: Callable[..., None]
    _fields: Callable[[web.Request], Awaitable[tuple[dict[str, Any], dict[str, tuple[str, bytes]]]]]

    async def transcriptions(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            raise ApiError(400, "The transcription endpoint expects multipart/form-data.")
        fields, files = await self._fields(request)
        self._record(request, {**fields, "files": {k: (name, len(data)) for k, (name, data) in files.items()}})
        if "file" not in files:
            raise ApiError(400, "Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
        self._fail_for(str(fields.get("prompt") or ""))  # the transcription's prompt may ask for a failure
        filename, data = files["file"]
        if len(data) > MAX_UPLOAD:
            raise ApiError(413, f"Maximum content size limit ({MAX_UPLOAD}) exceeded ({len(data)} bytes read)")
        try:
            segments, duration = await asyncio.to_thread(recognise, data)
        except UndecodableAudio:
            raise ApiError(
                400, f"The audio file '{filename}' could not be decoded or its format is not supported.", param="file"
            ) from None
        text = " ".join(segment.text for segment in segments)
        response_format = str(fields.get("response_format") or "json")
        usage = {"type": "duration", "seconds": math.ceil(duration)}
        if response_format == "json":
            return web.json_response({"text": text, "usage": usage})
        if response_format == "text":
            return web.Response(text=text + "\n", content_type="text/plain")
        if response_format in ("srt", "vtt"):
            return web.Response(text=_subtitles(segments, response_format), content_type="text/plain")
        if response_format != "verbose_json":
            raise ApiError(
                400,
                f"Invalid value: '{response_format}'. Supported values are: 'json', 'text', 'srt',"
                " 'verbose_json', and 'vtt'.",
                param="response_format",
                code="invalid_value",
            )
        body: dict[str, Any] = {
            "task": "transcribe",
            "language": str(fields.get("language") or "english"),
            "duration": duration,
            "text": text,
            "segments": [
                {
                    "id": index,
                    "seek": 0,
                    "start": segment.start,
                    "end": segment.end,
                    "text": " " + segment.text,
                    "tokens": [],
                    "temperature": 0.0,
                    "avg_logprob": -0.25,
                    "compression_ratio": 1.2,
                    "no_speech_prob": 0.01,
                }
                for index, segment in enumerate(segments)
            ],
            "usage": usage,
        }
        if "word" in (fields.get("timestamp_granularities") or []):
            body["words"] = [word for segment in segments for word in _words(segment)]
        return web.json_response(body)


def _words(segment: Any) -> list[dict[str, Any]]:
    words = segment.text.split()
    if not words:
        return []
    step = (segment.end - segment.start) / len(words)
    return [
        {"word": word, "start": round(segment.start + i * step, 3), "end": round(segment.start + (i + 1) * step, 3)}
        for i, word in enumerate(words)
    ]


def _subtitles(segments: list[Any], kind: str) -> str:
    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        h, rest = divmod(millis, 3_600_000)
        m, rest = divmod(rest, 60_000)
        s, ms = divmod(rest, 1000)
        return f"{h:02}:{m:02}:{s:02}{',' if kind == 'srt' else '.'}{ms:03}"

    blocks = [f"{i + 1}\n{stamp(s.start)} --> {stamp(s.end)}\n{s.text}\n" for i, s in enumerate(segments)]
    if kind == "vtt":
        return "WEBVTT\n\n" + "\n".join(block.split("\n", 1)[1] for block in blocks)
    return "\n".join(blocks)
