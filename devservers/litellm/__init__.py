"""The REAL LiteLLM proxy, started on loopback from its own venv, with an offline configuration.

* `launch.start_proxy(tmpdir, config, master_key, ...) -> ProxyHandle` (`.url`, `.stop()`);
* `config.build_config(master_key=..., media_url=...)`: mock chat models (the recorded offline
  config's models and error cases, writing-tool mocks) and image/video/transcription models
  forwarded to the OpenAI-compatible reference endpoint (devservers/openai_media);
* `testing.shared_stack()`: one reference endpoint + one proxy per test process;
* CLI: ``python -m devservers.litellm --port 4000 --master-key sk-dev-...`` runs both by hand.
"""
