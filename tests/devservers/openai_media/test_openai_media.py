"""The OpenAI-compatible media reference endpoint, spoken to directly (the proxy path is tested elsewhere)."""

from __future__ import annotations

import base64
import http.client
import io
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from devservers.openai_media import OpenAIMediaServer
from devservers.openai_media.speech import encode_sound, recognise, tone_bursts_wav, voice_activity

KEY = "sk-media-test"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with OpenAIMediaServer(
        api_key=KEY, output_dir=str(tmp_path_factory.mktemp("media")), video_job_seconds=0.3, video_fps=12
    ) as running:
        yield running


def call(
    server,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = KEY,
    multipart: tuple[dict[str, str], dict[str, tuple[str, bytes]]] | None = None,
) -> tuple[int, Any, str]:
    data, headers = None, {}
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if multipart is not None:
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in multipart[0].items()
        ]
        for name, (filename, content) in multipart[1].items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n".encode()
                + content
                + b"\r\n"
            )
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw, status, kind = response.read(), response.status, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        raw, status, kind = exc.read(), exc.code, exc.headers.get("Content-Type", "")
    return status, (json.loads(raw) if "json" in kind else raw), kind


def test_key_is_required(server):
    status, body, _ = call(server, "GET", "/v1/models", key=None)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    status, body, _ = call(server, "GET", "/v1/models", key="sk-wrong-12345")
    assert status == 401 and "sk-...2345" in body["error"]["message"]
    assert call(server, "GET", "/v1/models")[0] == 200


def test_image_shows_the_prompt_at_the_asked_size(server):
    status, body, _ = call(
        server,
        "POST",
        "/v1/images/generations",
        {"model": "gpt-image-1", "prompt": "A red lighthouse", "size": "320x200", "n": 2},
    )
    assert status == 200 and len(body["data"]) == 2
    first = base64.b64decode(body["data"][0]["b64_json"])
    second = base64.b64decode(body["data"][1]["b64_json"])
    assert first != second  # one seed per image
    with Image.open(io.BytesIO(first)) as image:
        assert image.format == "PNG" and image.size == (320, 200)
        pixels = np.asarray(image.convert("RGB"))
    assert (pixels == 255).all(axis=2).sum() > 100  # white prompt text drawn on the background


def test_image_as_url(server):
    status, body, _ = call(
        server, "POST", "/v1/images/generations", {"prompt": "A fox", "size": "64x64", "response_format": "url"}
    )
    url = body["data"][0]["url"]
    assert status == 200 and url.startswith(server.url + "/media/")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"prompt": ""}, 400, "missing_required_parameter"),
        ({"prompt": "x", "size": "huge"}, 400, "invalid_value"),
        ({"prompt": "x", "size": "9000x9000"}, 400, "invalid_value"),
        ({"prompt": "x [[fail:content_policy]]"}, 400, "content_policy_violation"),
        ({"prompt": "x [[fail:rate_limit]]"}, 429, "rate_limit_exceeded"),
        ({"prompt": "x [[fail:server]]"}, 500, None),
    ],
)
def test_image_errors_use_the_openai_envelope(server, body, status, code):
    got, answer, _ = call(server, "POST", "/v1/images/generations", body)
    assert got == status
    assert set(answer["error"]) == {"message", "type", "param", "code"} and answer["error"]["code"] == code


def wait_for(server, video_id: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        _, job, _ = call(server, "GET", f"/v1/videos/{video_id}")
        seen.append(job["status"])
        if job["status"] in ("completed", "failed"):
            job["seen"] = seen
            return job
        time.sleep(0.05)
    raise AssertionError(f"video {video_id} stuck: {seen[-3:]}")


def test_video_job_lifecycle_and_content(server):
    status, job, _ = call(
        server,
        "POST",
        "/v1/videos",
        {"model": "sora-2", "prompt": "Gulls over the pier", "seconds": "4", "size": "160x96"},
    )
    assert status == 200 and job["status"] == "queued" and job["object"] == "video" and job["progress"] == 0
    status, early, _ = call(server, "GET", f"/v1/videos/{job['id']}/content")
    assert status == 400 and early["error"]["code"] == "video_not_ready"
    done = wait_for(server, job["id"])
    assert done["status"] == "completed" and done["progress"] == 100 and "in_progress" in done["seen"]
    status, content, kind = call(server, "GET", f"/v1/videos/{job['id']}/content")
    assert status == 200 and kind == "video/mp4"
    with av.open(io.BytesIO(content)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (160, 96)
        assert sum(1 for _ in container.decode(stream)) == 4 * 12
    status, thumbnail, kind = call(server, "GET", f"/v1/videos/{job['id']}/content?variant=thumbnail")
    assert status == 200 and thumbnail.startswith(b"\x89PNG")
    assert any(v["id"] == job["id"] for v in call(server, "GET", "/v1/videos")[1]["data"])
    assert call(server, "DELETE", f"/v1/videos/{job['id']}")[1]["deleted"] is True
    assert call(server, "GET", f"/v1/videos/{job['id']}")[0] == 404


def test_video_accepts_multipart_like_litellm_sends(server):
    status, job, _ = call(
        server,
        "POST",
        "/v1/videos",
        multipart=(
            {"model": "sora-2", "prompt": "From a still", "seconds": "4", "size": "96x96"},
            {"input_reference": ("still.png", b"\x89PNG not really")},
        ),
    )
    assert status == 200 and job["size"] == "96x96"
    assert server.requests[-1]["fields"]["files"] == {"input_reference": ("still.png", len(b"\x89PNG not really"))}


def test_video_errors(server):
    status, answer, _ = call(server, "POST", "/v1/videos", {"prompt": "x", "seconds": "5"})
    assert status == 400 and answer["error"]["param"] == "seconds" and "'4', '8', '12'" in answer["error"]["message"]
    _, job, _ = call(server, "POST", "/v1/videos", {"prompt": "x [[fail:job]]", "size": "64x64"})
    failed = wait_for(server, job["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "video_generation_failed"
    assert call(server, "GET", "/v1/videos/video_nope")[0] == 404


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    path = tmp_path_factory.mktemp("sound") / "lines.flac"
    encode_sound(
        str(path), tone_bursts_wav([(0.3, 1.0), (1.6, 2.4)], 3.0), transcript="Ahoy|Cast off", container="flac"
    )
    return path.read_bytes()


def test_transcription_verbose_json(server, sound):
    fields = {"model": "whisper-1", "response_format": "verbose_json", "timestamp_granularities[]": "word"}
    status, body, _ = call(server, "POST", "/v1/audio/transcriptions", multipart=(fields, {"file": ("a.flac", sound)}))
    assert status == 200 and body["task"] == "transcribe" and body["duration"] == pytest.approx(3.0)
    assert [(s["start"], s["end"], s["text"]) for s in body["segments"]] == [
        (pytest.approx(0.3, abs=0.03), pytest.approx(1.0, abs=0.03), " Ahoy"),
        (pytest.approx(1.6, abs=0.03), pytest.approx(2.4, abs=0.03), " Cast off"),
    ]
    assert [w["word"] for w in body["words"]] == ["Ahoy", "Cast", "off"]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("json", '"text": "Ahoy Cast off"'),
        ("text", "Ahoy Cast off\n"),
        ("srt", "1\n00:00:00,300 --> 00:00:01,000\nAhoy\n"),
        ("vtt", "WEBVTT\n\n00:00:00.300 --> 00:00:01.000\nAhoy\n"),
    ],
)
def test_transcription_formats(server, sound, fmt, expected):
    status, body, _ = call(
        server,
        "POST",
        "/v1/audio/transcriptions",
        multipart=({"model": "whisper-1", "response_format": fmt}, {"file": ("a.flac", sound)}),
    )
    assert status == 200
    text = json.dumps(body) if isinstance(body, dict) else body.decode()
    assert expected in text


def test_transcription_errors(server, sound):
    status, body, _ = call(
        server, "POST", "/v1/audio/transcriptions", multipart=({"model": "whisper-1"}, {"file": ("x.wav", b"garbage")})
    )
    assert status == 400 and "could not be decoded" in body["error"]["message"]
    status, body, _ = call(server, "POST", "/v1/audio/transcriptions", multipart=({"model": "whisper-1"}, {}))
    assert status == 400 and body["error"]["param"] == "file"
    status, body, _ = call(
        server, "POST", "/v1/audio/transcriptions", multipart=({"response_format": "doc"}, {"file": ("a.flac", sound)})
    )
    assert status == 400 and body["error"]["param"] == "response_format"


def test_voice_activity_merges_short_gaps_and_drops_clicks():
    rate = 16_000
    samples = tone_bursts_wav([(0.2, 0.6), (0.7, 1.0), (1.5, 1.55), (2.0, 2.5)], 3.0, rate=rate)
    spans = voice_activity(samples.astype(np.float32) / 32767, rate=rate)
    assert spans == [(0.2, 1.0), (2.0, 2.5)]  # 0.1 s gap merged; a 50 ms click dropped
    assert voice_activity(np.zeros(rate, np.float32)) == []


def test_recognise_names_unlabelled_speech(tmp_path):
    path = tmp_path / "plain.wav"
    encode_sound(str(path), tone_bursts_wav([(0.2, 0.8)], 1.0))
    segments, duration = recognise(path.read_bytes())
    assert [s.text for s in segments] == ["[speech 1]"] and duration == pytest.approx(1.0)


def test_refuses_non_loopback_hosts():
    with pytest.raises(ValueError, match="non-loopback"):
        OpenAIMediaServer(host="0.0.0.0")


def test_rate_wait_says_how_long_in_words_and_header_and_once_means_once(server):
    request = urllib.request.Request(
        server.url + "/v1/images/generations",
        data=json.dumps({"prompt": "x [[fail:rate_wait]]", "size": "32x32"}).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as limited:
        urllib.request.urlopen(request, timeout=10)
    assert limited.value.code == 429 and limited.value.headers["Retry-After"] == "3"
    assert "Please try again in 3s." in json.loads(limited.value.read())["error"]["message"]
    before = server.calls("POST", "/v1/images/generations", "[[fail:rate_wait_once]] a")
    first, _, _ = call(
        server, "POST", "/v1/images/generations", {"prompt": "[[fail:rate_wait_once]] a", "size": "32x32"}
    )
    again, _, _ = call(
        server, "POST", "/v1/images/generations", {"prompt": "[[fail:rate_wait_once]] a", "size": "32x32"}
    )
    assert (first, again) == (429, 200)
    assert server.calls("POST", "/v1/images/generations", "[[fail:rate_wait_once]] a") - before == 2


def test_cut_download_drops_the_first_download_only(server):
    _, job, _ = call(server, "POST", "/v1/videos", {"prompt": "x [[fail:cut_download]]", "size": "64x64"})
    assert wait_for(server, job["id"])["status"] == "completed"
    request = urllib.request.Request(
        f"{server.url}/v1/videos/{job['id']}/content", headers={"Authorization": f"Bearer {KEY}"}
    )
    with pytest.raises(http.client.IncompleteRead), urllib.request.urlopen(request, timeout=10) as response:
        response.read()
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read()[4:8] == b"ftyp"  # whole this time
