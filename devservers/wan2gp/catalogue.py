"""The reference server's models: the records the real Wan2GP 12.60 answered (catalogue.json).

Discovery answers come from the captures. A model captured only as a compact record gets a
generic schema and the factory defaults (resolution 832x480, 81 frames, 30 steps, guidance 5).
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CATALOGUE_FILE = HERE / "catalogue.json"
SURFACE_FILE = HERE / "mcp_surface.json"

FILTER_KEYS = ("family", "base_model_type", "finetune", "model_type", "main_output", "inputs", "name")
# What the real server says of a model (shared/api.py _model_availability_to_dict): its files are all
# there (status 2), or none are (0; every model on the capture machine, which downloaded nothing).
MISSING = {"status": "missing", "status_code": 0, "indicator": "black_square", "available": False}
AVAILABLE = {"status": "available", "status_code": 2, "indicator": "blue_square", "available": True}
# A normal install's downloaded models: the Wan models it has run (the 14B pair, the 5B, the 1.3B).
# Every other model's weights are fetched on its first use, as on the real server.
DOWNLOADED_MODELS = ("i2v_2_2", "t2v_1.3B", "t2v_2_2", "ti2v_2_2")
WEIGHTS_MODES = ("downloaded", "missing")  # --weights: a normal install, or one that downloaded nothing
GENERIC_SETTING_VALUES = {
    "image_prompt_type": {"allowed": "", "choices": [{"label": "Text/new generation", "value": ""}]},
    "video_prompt_type": {"guide_preprocessing": None, "mask_preprocessing": None, "guide_custom_choices": None,
                          "image_ref_choices": None, "custom_video_selection": None, "forced": ""},
    "audio_prompt_type": {"sources": None, "custom_option": None},
    "model_mode": None,
    "sample_solver": {"choices": [{"label": "unipc", "value": "unipc"}, {"label": "euler", "value": "euler"}]},
    "prompt_enhancer": None,
}  # fmt: skip


def load_surface() -> dict[str, Any]:
    return json.loads(SURFACE_FILE.read_text(encoding="utf-8"))


class Catalogue:
    """`available`: model types whose weights the server says it has downloaded (default those of a
    normal install, DOWNLOADED_MODELS); their availability says so, the others' says "missing"."""

    def __init__(self, path: Path = CATALOGUE_FILE, available: Iterable[str] = DOWNLOADED_MODELS) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.available = set(available)
        self.entries: dict[str, dict[str, Any]] = {e["record"]["model_type"]: e for e in data["models"]}
        self.model_defs: dict[str, dict[str, Any]] = data.get("model_defs", {})

    def __contains__(self, model_type: object) -> bool:
        return model_type in self.entries

    def record(self, model_type: str, *, include_availability: bool = False) -> dict[str, Any]:
        record = copy.deepcopy(self.entries[model_type]["record"])
        if include_availability:
            record["availability"] = self.availability(model_type)
        return record

    def availability(self, model_type: str) -> dict[str, Any]:
        self._require(model_type)
        return {"model_type": model_type, **(AVAILABLE if model_type in self.available else MISSING)}

    def schema_extra(self, model_type: str) -> dict[str, Any]:
        entry = self.entries[model_type]
        if "schema" in entry:
            return copy.deepcopy(entry["schema"])
        record = entry["record"]
        extra: dict[str, Any] = {
            "description": "",
            "fps": 16,
            "frames_minimum": 5,
            "frames_steps": 4,
            "infos": "",
            "prompt_infos": "",
            "sliding_window": bool(record["capabilities"]["sliding_window"]),
        }
        if "video" in record["outputs"]:
            extra["frames_maximum"] = 97
        return extra

    def schema(self, model_type: str) -> dict[str, Any] | None:
        if model_type not in self.entries:
            return None
        return {"metadata": {**self.record(model_type), **self.schema_extra(model_type)}}

    def metadata(self, model_type: str, *, include_availability: bool = False) -> dict[str, Any] | None:
        if model_type not in self.entries:
            return None
        record = self.record(model_type)
        record["setting_values"] = copy.deepcopy(GENERIC_SETTING_VALUES)
        record["name"] = record.pop("name")  # the real record lists name after setting_values
        if include_availability:
            record["availability"] = self.availability(model_type)
        return record

    def defaults(self, model_type: str) -> dict[str, Any]:
        self._require(model_type)
        entry = self.entries[model_type]
        if "defaults" in entry:
            return copy.deepcopy(entry["defaults"])
        return {"prompt": "", "image_mode": 0, "resolution": "832x480", "video_length": 81, "num_inference_steps": 30,
                "seed": -1, "guidance_scale": 5, "sample_solver": "unipc", "flow_shift": 5.0, "repeat_generation": 1,
                "multi_prompts_gen_type": "PG", "RIFLEx_setting": 0, "model_type": model_type}  # fmt: skip

    def model_def(self, model_type: str) -> dict[str, Any] | None:
        if model_type not in self.entries:
            return None
        if model_type in self.model_defs:
            return copy.deepcopy(self.model_defs[model_type])
        record, extra = self.record(model_type), self.schema_extra(model_type)
        return {"name": record["name"], "architecture": record["base_model_type"], "group": record["family"],
                "description": extra["description"], "fps": extra["fps"], "frames_minimum": extra["frames_minimum"],
                "frames_steps": extra["frames_steps"], "sliding_window": extra["sliding_window"],
                "metadata": self.metadata(model_type)}  # fmt: skip

    def video_facts(self, model_type: str) -> dict[str, Any]:
        """fps, frame lattice and the pixel block a generated video of this model snaps to."""
        extra = self.schema_extra(model_type)
        block = 32 if model_type.startswith("ti2v") else 16  # the 5B's VAE works on 32-pixel blocks
        return {"fps": extra["fps"], "frames_minimum": extra["frames_minimum"], "frames_steps": extra["frames_steps"],
                "block": block, "name": self.entries[model_type]["record"]["name"]}  # fmt: skip

    def select(self, filters: dict[str, Any], query: str | None = None) -> list[str]:
        chosen = []
        for model_type in sorted(self.entries):
            record = self.entries[model_type]["record"]
            extra = self.schema_extra(model_type)
            if all(_matches(record.get(key), value) for key, value in filters.items() if value is not None) and (
                not query or _query_matches(query, record, extra)
            ):
                chosen.append(model_type)
        return chosen

    def _require(self, model_type: str) -> None:
        if model_type not in self.entries:
            raise ValueError(f"Unknown model_type: {model_type}")


def _matches(field: Any, pattern: Any) -> bool:
    pattern = str(pattern).lower()
    values = field if isinstance(field, list) else [field]
    return any(fnmatch.fnmatchcase(str(v).lower(), pattern) for v in values)


def _query_matches(query: str, record: dict[str, Any], extra: dict[str, Any]) -> bool:
    haystack = " ".join(
        str(v) for v in (record["model_type"], record["name"], record["family"], record["family_label"],
                         record["base_model_type"], extra.get("description", ""))
    ).lower()  # fmt: skip
    return all(word in haystack for word in query.lower().split())
