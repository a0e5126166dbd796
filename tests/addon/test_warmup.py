"""The warm-up imports the core a Generate needs on a worker thread: checked in a fresh interpreter,
since this one has imported the core already."""

from __future__ import annotations

from pathlib import Path

from fresh_process import run_result

from shotcaller.addon import warmup
from shotcaller.jobs import session

REPO_ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import gc, json, sys, threading, types
package = types.ModuleType("shotcaller")
package.__path__ = [sys.argv[1]]
sys.modules["shotcaller"] = package
from shotcaller.addon import warmup
finders = list(sys.meta_path)
before = "shotcaller.shots" in sys.modules or "pydantic" in sys.modules
started = warmup.start(["comfyui", "no-such-kind"])
finished = warmup.wait(120)
again = warmup.start(["comfyui"])
print("RESULT " + json.dumps({
    "before": before,
    "started": started,
    "finished": finished,
    "again": again,
    "threads_left": [t.name for t in threading.enumerate() if t.name == "shotcaller-warmup"],
    "finders_restored": sys.meta_path == finders,
    "frozen": gc.get_freeze_count() > 0,
    "loaded": sorted(name for name in sys.modules if name.startswith("shotcaller.")),
}))
"""


def test_the_thread_imports_the_core_and_the_configured_kinds_client_once():
    result = run_result(CHILD, str(REPO_ROOT))
    assert not result["before"]
    assert result["started"] and result["finished"]
    assert not result["again"]  # once per session
    assert result["threads_left"] == []
    assert result["finders_restored"]  # the pause before each module is gone with the thread
    assert result["frozen"]  # what the imports left alive is out of later collections (jobs/collector.py)
    loaded = set(result["loaded"])
    assert {f"shotcaller.{name}" for name in warmup.modules_for(["comfyui"])} <= loaded
    assert "shotcaller.backends.wan2gp.backend" not in loaded  # only the kinds the preferences use
    assert "shotcaller.backends.litellm.backend" not in loaded


def test_every_backend_kind_has_its_client_module():
    assert set(warmup.BACKEND_MODULES) == set(session.BACKEND_FACTORIES)
    assert warmup.modules_for(["litellm", "unknown", "litellm"]) == [*warmup.CORE_MODULES, "backends.litellm.backend"]
