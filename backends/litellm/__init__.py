"""LiteLLM proxy backend: chat for the writing tools, cloud images and videos, transcription.

client.py      LiteLLMClient: one method per proxy endpoint (health, models, chat here)
transport.py   the key kept secret, JSON requests, cancellable SSE streams
media.py       images and videos, and the cost the proxy reports
audio.py       the transcription upload
errors.py      the proxy's error envelope -> typed errors
backend.py     LiteLLMBackend: image/video models on the proxy as routes for shots
cloud_model.py the configured models (CloudModel), a shot's size and length fitted to one
video_jobs.py  a video shot: created, followed on the provider, downloaded
transcribe.py  a sound file -> timed Segments -> subtitle cues in frames
"""
