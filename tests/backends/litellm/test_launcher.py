"""The proxy launcher: loopback, offline cost map, master key, clear failures."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest

from devservers.litellm.config import MOCK_CHAT_MODELS, build_config
from devservers.litellm.launch import ProxyStartError, start_proxy


def test_shared_proxy_runs_offline_on_loopback(stack):
    proxy = stack.proxy
    assert proxy.url.startswith("http://127.0.0.1:") and proxy.alive()
    if sys.platform.startswith("linux"):
        with open(f"/proc/{proxy.process.pid}/cmdline", "rb") as handle:
            args = handle.read().split(b"\0")
        assert args[args.index(b"--host") + 1] == b"127.0.0.1"
        with open(f"/proc/{proxy.process.pid}/environ", "rb") as handle:
            env = dict(item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item)
        assert env[b"LITELLM_LOCAL_MODEL_COST_MAP"] == b"True"
        assert b"OPENAI_API_KEY" not in env and b"DATABASE_URL" not in env
    config = json.loads(proxy.config_path.read_text())
    assert config["general_settings"]["master_key"] == stack.master_key
    assert config["router_settings"]["num_retries"] == 0
    names = {m["model_name"] for m in config["model_list"]}
    assert set(MOCK_CHAT_MODELS) <= names and {"cloud-image", "cloud-video", "whisper"} <= names
    assert "raw.githubusercontent.com" not in proxy.log()  # the cost map was not fetched


def test_media_models_point_at_the_reference_endpoint():
    config = build_config(master_key="sk-x", media_url="http://127.0.0.1:9/", media_api_key="sk-m")
    media = {m["model_name"]: m["litellm_params"] for m in config["model_list"] if "api_base" in m["litellm_params"]}
    assert media == {
        "cloud-image": {"model": "openai/gpt-image-1", "api_base": "http://127.0.0.1:9/v1", "api_key": "sk-m"},
        "cloud-image-url": {"model": "openai/dall-e-3", "api_base": "http://127.0.0.1:9/v1", "api_key": "sk-m"},
        "cloud-video": {"model": "openai/sora-2", "api_base": "http://127.0.0.1:9/v1", "api_key": "sk-m"},
        "whisper": {"model": "openai/whisper-1", "api_base": "http://127.0.0.1:9/v1", "api_key": "sk-m"},
    }
    assert all("mock_response" in m["litellm_params"] for m in build_config(master_key="k")["model_list"])


def fake_litellm(tmp_path, script: str) -> str:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    exe = bin_dir / "litellm"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(bin_dir / "python")


@pytest.mark.skipif(os.name == "nt", reason="a POSIX shell script stands in for litellm")
def test_a_proxy_that_exits_is_reported_with_its_log(tmp_path):
    python = fake_litellm(tmp_path, 'echo "UnsafeMasterKeyError: refused to start"\nexit 3\n')
    with pytest.raises(ProxyStartError) as caught:
        start_proxy(tmp_path / "run", build_config(master_key="sk-x"), "sk-x", python=python)
    assert "exited with 3" in str(caught.value) and "UnsafeMasterKeyError" in str(caught.value)


@pytest.mark.skipif(os.name == "nt", reason="a POSIX shell script stands in for litellm")
def test_a_proxy_that_never_answers_times_out(tmp_path):
    python = fake_litellm(tmp_path, "exec sleep 30\n")
    with pytest.raises(ProxyStartError) as caught:
        start_proxy(tmp_path / "run", build_config(master_key="sk-x"), "sk-x", python=python, timeout=0.5)
    assert "did not answer within" in str(caught.value)
