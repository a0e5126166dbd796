"""Headless credentials: each server's token, basic auth, headers and comfy.org key from environment
variables named after it (backends/credentials.py `environment_names`), never from the command line,
which any process list shows. What the run prints names the kinds and where they came from, never a value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..backends.credentials import (
    InvalidCredentials,
    environment_name,
    environment_names,
    from_options,
    with_environment,
)
from ..routing.registry import InstanceConfig

CREDENTIAL_KINDS = ("comfyui", "wan2gp")  # LiteLLM's key has its own variable (--litellm-key-env)
CREDENTIAL_OPTIONS = ("bearer_token", "basic_user", "basic_password", "headers", "comfy_api_key")


def with_environment_credentials(settings: Any, environ: Mapping[str, str]) -> Any:
    """`settings` with every ComfyUI and Wan2GP server's credentials from the environment on top of its entry's."""
    instances = tuple(settings.instances)
    if not instances and settings.comfyui_url:  # the default server, made an entry so it can carry them
        instances = (InstanceConfig(kind="comfyui", url=settings.comfyui_url, slots=settings.jobs_per_server),)
    changed = tuple(
        _from_environment(config, environ) if config.kind in CREDENTIAL_KINDS else config for config in instances
    )
    if changed == tuple(settings.instances):
        return settings
    return dataclasses.replace(settings, instances=changed)


def _from_environment(config: InstanceConfig, environ: Mapping[str, str]) -> InstanceConfig:
    options = with_environment(config.options, config.name, config.url, environ)
    if not any(options.get(key) for key in CREDENTIAL_OPTIONS):
        # Nothing anywhere: a refusal's hint names the variables this run would read.
        names = environment_names(environment_name(config.name, config.url))
        options["credentials_where"] = (
            f"the environment (${names['bearer_token']}, or ${names['basic_user']} and ${names['basic_password']},"
            f" or ${names['headers']})"
        )
    return dataclasses.replace(config, options=options)


def credentials_note(config: InstanceConfig) -> str:
    """ "; sends a bearer token (from ...)" for a server's console line, or "" when it sends nothing."""
    if config.kind not in CREDENTIAL_KINDS:
        return ""
    try:
        credentials = from_options(config.options, url=config.url, server=environment_name(config.name, config.url))
    except InvalidCredentials as exc:
        return f"; its credentials cannot be used: {exc}"
    kinds = credentials.kinds()
    return f"; sends {' and '.join(kinds)} (from {credentials.where})" if kinds else ""
