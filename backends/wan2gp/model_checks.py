"""Which models the server has, what they allow, and whether their weights are downloaded yet.

A model's schema (its fps and frame limits win over the built-in table) and default settings are
cached for a while: every job needs them, and they change only when the server is updated.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..base import BackendError, MissingResource, ProtocolError
from ..forward_progress import MonotonicReporter
from .client import Wan2GPClient
from .errors import IS_IT_WAN2GP
from .models import ModelLimits, wan_model
from .presets import Wan2GPPreset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    limits: ModelLimits
    defaults: dict[str, Any]


class ModelChecks:
    """What Wan2GPBackend knows of the server's models; the backend provides the attributes below."""

    client: Wan2GPClient
    display_name: str
    presets: dict[str, Wan2GPPreset]
    model_info_ttl: float
    _model_lock: threading.Lock
    _model_cache: dict[str, tuple[float, ModelInfo]]
    _server_presets: dict[str, Wan2GPPreset]

    def missing_offers(self) -> dict[str, str]:
        """Offers whose model this server does not have (network): {offer name: reason}, for discovery."""
        missing: dict[str, str] = {}
        for preset in self.presets.values():
            for model in preset.models:
                try:
                    self._model_info(model.model_type)
                except MissingResource as exc:
                    missing[preset.name] = exc.message
                    break
        return missing

    def _offers_needing_downloads(self) -> tuple[str, ...]:
        """The offers whose models this server has not downloaded: a server that cannot download cannot
        make them either. Every offer when the server does not say."""
        names = []
        with self._model_lock:
            presets = [*self.presets.values(), *self._server_presets.values()]
        for preset in presets:
            try:
                available = all(
                    self.client.get_model_availability(m.model_type).get("available") is True for m in preset.models
                )
            except BackendError:
                available = False
            if not available:
                names.append(preset.name)
        return tuple(names)

    def _model_info(self, model_type: str) -> ModelInfo:
        with self._model_lock:
            cached = self._model_cache.get(model_type)
            if cached is not None and time.monotonic() - cached[0] < self.model_info_ttl:
                return cached[1]
        metadata = self.client.get_model_schema(model_type)
        if metadata is None:
            raise MissingResource(
                f"Wan2GP at {self.client.origin} does not have the model {model_type} ({wan_model(model_type).name})",
                hint="Update Wan2GP to a version with this model, or use another backend.",
            )
        main_output = metadata.get("main_output")
        if isinstance(main_output, list) and "video" not in main_output:
            raise ProtocolError(
                f"Wan2GP at {self.client.origin} says {model_type} does not make videos", hint=IS_IT_WAN2GP
            )
        defaults = self.client.get_default_settings(model_type)
        info = ModelInfo(ModelLimits.from_schema(wan_model(model_type), metadata), defaults)
        with self._model_lock:
            self._model_cache[model_type] = (time.monotonic(), info)
        return info

    def _note_availability(self, model_type: str, progress: MonotonicReporter) -> None:
        """Weights not on the server yet: Wan2GP downloads them first, which can take long. Say so."""
        try:
            availability = self.client.get_model_availability(model_type)
        except BackendError as exc:  # informative only
            log.info("%s: no availability for %s: %s", self.display_name, model_type, exc)
            return
        if availability.get("available") is False:
            progress.update(0.01, f"Wan2GP has not downloaded {model_type} yet: it fetches the weights first")
