"""LiteLLM proxy backend: chat for the writing tools, cloud images and videos, transcription.

client.py     LiteLLMClient: one method per proxy endpoint, typed errors, the key kept secret
errors.py     the proxy's error envelope -> typed errors
backend.py    LiteLLMBackend: image/video models on the proxy as routes for shots
transcribe.py a sound file -> timed Segments -> subtitle cues in frames
"""
