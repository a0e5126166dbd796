"""OpenAI-compatible reference endpoint for images, videos and transcriptions (no models, no GPU).

The real LiteLLM proxy forwards `openai/...` image, video and transcription models to it (their
`api_base`), so tests run the whole path through the proxy without a cloud account:

* `POST /v1/images/generations`: PNGs showing the prompt (`b64_json`, or `url` served from `/media/`);
* `POST /v1/videos`, `GET /v1/videos/{id}`, `GET /v1/videos/{id}/content`: a job that goes
  queued -> in_progress (with `progress`) -> completed, then an H.264 MP4 showing the prompt and the
  frame number (`?variant=thumbnail` gives a PNG);
* `POST /v1/audio/transcriptions`: `json`, `text`, `srt`, `vtt` or `verbose_json` with segments
  timed from the sound's loud stretches; their words come from the file's `transcript`/`lyrics`/
  `comment` tag (see speech.py).

In-thread::

    with OpenAIMediaServer(api_key="sk-media") as server:
        server.url        # "http://127.0.0.1:PORT"

CLI: ``python -m devservers.openai_media --port 4010 [--api-key KEY] [--output-dir DIR]``.
Failures on demand: put ``[[fail:content_policy|rate_limit|server|job]]`` in a prompt;
``rate_wait``/``rate_wait_once`` answer 429 "Please try again in Ns." with Retry-After (every time /
the first time), ``cut_download`` cuts the video's first download off halfway.
"""

from .server import OpenAIMediaServer

__all__ = ["OpenAIMediaServer"]
