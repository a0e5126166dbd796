"""Node cache and the execution worker of the reference server.

The worker is one thread (like ComfyUI's prompt worker). Messages go out through the `Hub`
protocol the server implements (`send`, `send_preview`, `drop_client`). Message order follows the
recorded 0.3.64 server: execution_start, execution_cached, per node progress_state / executing /
[progress...] / [executed] / progress_state, then execution_success (or execution_error /
execution_interrupted), history is written, status broadcast, and finally `executing` null.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from . import nodes
from .catalogue import MODEL_COMBOS, Catalogue
from .prompt_queue import PromptQueue
from .validation import type_name as _type_name

OOM_TIP = (
    "This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might "
    "have accidentally set the batch_size to a large number."
)
OOM_MESSAGE = (
    "Allocation on device 0 would exceed allowed memory. (out of memory)\nCurrently allocated     : 7.21 GiB\n"
    "Requested               : 2.53 GiB\nDevice limit            : 8.00 GiB\nFree (according to CUDA): 0 bytes\n"
    "PyTorch limit (set by user-supplied memory fraction)\n                        : 17179869184.00 GiB"
)
# "pass" runs the prompt normally: a list ["pass", "error"] fails the second prompt from now.
FAIL_MODES = ("oom", "error", "drop-ws", "slow", "pass")


class Hub(Protocol):
    def send(self, event: str, data: dict, sid: str | None) -> None: ...
    def send_preview(self, image: bytes, metadata: dict, sid: str | None, fmt: str = "png") -> None: ...
    def drop_client(self, sid: str | None) -> None: ...
    def queue_updated(self) -> None: ...


class Interrupted(Exception):
    pass


class SafetensorError(Exception):
    """What the safetensors library raises for a file whose header it cannot read."""


SafetensorError.__module__ = "safetensors_rust"  # the name real servers report as exception_type
DAMAGED_FILE_MESSAGE = "Error while deserializing header: header too small"


def now_ms() -> int:
    return int(time.time() * 1000)


class NodeContext:
    """What a node function sees of the running job."""

    def __init__(self, job: Job, node_id: str):
        self.job, self.node_id = job, node_id
        self.directories = job.worker.directories
        self.step_seconds = job.worker.slow_step_seconds if job.slow else job.worker.step_seconds
        self.preview_format = job.worker.preview_format
        self.prompt = job.prompt
        self.extra_pnginfo = job.extra.get("extra_pnginfo")

    def sleep(self, seconds: float) -> None:
        """Simulated work; ends early only when the server shuts down."""
        if seconds > 0:
            self.job.worker.stopping.wait(seconds)

    def progress(self, value: int, maximum: int, preview: bytes | None = None) -> None:
        self.job.node_progress(self.node_id, value, maximum, preview)

    def wants_preview(self) -> bool:
        method = self.job.extra.get("preview_method") or self.job.worker.preview_method
        if method == "default":
            method = self.job.worker.preview_method
        return method != "none"

    def check_interrupt(self) -> None:
        worker = self.job.worker
        # With a lag the node runs to its end, as real ComfyUI's non-sampler nodes do.
        if worker.interrupt_flag.is_set() and worker.interrupt_lag_seconds <= 0:
            raise Interrupted()

    def failure_point(self) -> None:
        self.job.failure_point(self.node_id)


class Job:
    """One prompt being executed."""

    def __init__(self, worker: Worker, item: tuple):
        self.worker = worker
        self.number, self.prompt_id, self.prompt, self.extra, self.outputs = item[:5]
        self.client_id = self.extra.get("client_id")
        self.messages: list[list] = []
        self.states: dict[str, dict] = {}
        self.fail_mode: str | None = None
        self.slow = False  # "slow" failure mode: every sampler step takes worker.slow_step_seconds

    # ---- messages
    def send(self, event: str, data: dict) -> None:
        if self.client_id is not None:
            self.worker.hub.send(event, data, self.client_id)

    def add_message(self, event: str, data: dict, broadcast: bool = False) -> None:
        data = {**data, "timestamp": now_ms()}
        self.messages.append([event, data])
        if self.client_id is not None or broadcast:
            self.worker.hub.send(event, data, self.client_id)

    def send_progress_state(self) -> None:
        self.worker.hub.send(
            "progress_state", {"prompt_id": self.prompt_id, "nodes": dict(self.states)}, self.client_id
        )

    def set_state(self, node_id: str, state: str, value: float, maximum: float) -> None:
        self.states[node_id] = {
            "value": value,
            "max": maximum,
            "state": state,
            "node_id": node_id,
            "prompt_id": self.prompt_id,
            "display_node_id": node_id,
            "parent_node_id": None,
            "real_node_id": node_id,
        }
        self.send_progress_state()

    def node_progress(self, node_id: str, value: int, maximum: int, preview: bytes | None) -> None:
        self.set_state(node_id, "running", float(value), float(maximum))
        hub = self.worker.hub
        fmt = self.worker.preview_format
        if preview is not None and self.worker.supports_metadata(self.client_id):
            meta = {
                "node_id": node_id,
                "prompt_id": self.prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
                "image_type": f"image/{fmt}",
            }
            hub.send_preview(preview, meta, self.client_id, fmt)
            preview = None
        hub.send(
            "progress", {"value": value, "max": maximum, "prompt_id": self.prompt_id, "node": node_id}, self.client_id
        )
        if preview is not None:
            hub.send_preview(preview, {}, self.client_id, fmt)

    # ---- failure simulation
    def failure_point(self, node_id: str) -> None:
        mode, self.fail_mode = self.fail_mode, None
        if mode == "oom":
            raise nodes.OutOfMemoryError(OOM_MESSAGE)
        if mode == "error":
            raise RuntimeError("Simulated runtime error (reference server --fail-next error)")
        if mode == "drop-ws":
            self.worker.hub.drop_client(self.client_id)


class Worker:
    """Executes queued prompts one at a time and keeps the node output cache."""

    def __init__(
        self,
        catalogue: Catalogue,
        queue: PromptQueue,
        hub: Hub,
        directories: dict[str, str],
        step_seconds: float,
        preview_method: str,
        supports_metadata: Callable[[str | None], bool],
        preview_format: str = "png",
        slow_step_seconds: float = 0.5,
        damaged_models: set[tuple[str, str]] | None = None,
        interrupt_lag_seconds: float = 0.0,
    ):
        self.catalogue, self.queue, self.hub = catalogue, queue, hub
        self.damaged_models = damaged_models or set()  # (folder, filename) whose loader fails
        self.interrupt_lag_seconds = interrupt_lag_seconds
        self.interrupted_at = 0.0
        self.directories = directories
        self.step_seconds = step_seconds
        self.slow_step_seconds = slow_step_seconds
        self.preview_method = preview_method
        self.preview_format = preview_format
        self.supports_metadata = supports_metadata
        self.interrupt_flag = threading.Event()
        self.cache: dict[Any, tuple[tuple, dict | None]] = {}
        self.cache_lock = threading.Lock()
        self.fail_next: list[str] = []
        self.current: Job | None = None
        self.last_node_id: str | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="comfyui-reference-worker", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.interrupt_flag.set()
        with self.queue.cond:
            self.queue.cond.notify_all()
        if self.thread.is_alive():
            self.thread.join(timeout=10)

    def free_memory(self) -> None:
        with self.cache_lock:
            self.cache.clear()

    def interrupt(self, prompt_id: str | None = None) -> None:
        job = self.current
        if prompt_id and (job is None or job.prompt_id != prompt_id):
            return
        if not self.interrupt_flag.is_set():
            self.interrupted_at = time.monotonic()
        self.interrupt_flag.set()

    def _run(self) -> None:
        while not self.stopping.is_set():
            got = self.queue.get(timeout=0.2)
            if got is None:
                continue
            item, task_id = got
            job = Job(self, item)
            if self.fail_next:
                mode = self.fail_next.pop(0)
                if mode == "slow":
                    job.slow = True
                else:
                    job.fail_mode = mode
            self.current = job
            try:
                outputs, meta, status = self.execute(job)
            except Exception:  # a bug in the reference server itself: record it, keep serving
                traceback.print_exc()
                outputs, meta, status = {}, {}, {"status_str": "error", "completed": False, "messages": job.messages}
            self.queue.task_done(task_id, outputs, meta, status)
            self.current = None
            self.last_node_id = None
            if job.client_id is not None:
                self.hub.send("executing", {"node": None, "prompt_id": job.prompt_id}, job.client_id)

    # ------------------------------------------------------------------ execution
    def _signatures(self, job: Job) -> dict[str, Any]:
        memo: dict[str, Any] = {}
        ctx = NodeContext(job, "")

        def signature(node_id: str) -> Any:
            if node_id in memo:
                return memo[node_id]
            memo[node_id] = ("cycle", node_id)  # a link cycle must not recurse forever
            node = job.prompt[node_id]
            inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
            parts: list[tuple] = []
            for key in sorted(inputs):
                value = inputs[key]
                if isinstance(value, list) and len(value) == 2 and _hashable(value[0]) and value[0] in job.prompt:
                    parts.append((key, "link", signature(value[0]), json.dumps(value[1], default=str)))
                else:
                    parts.append((key, json.dumps(value, sort_keys=True, default=str)))
            memo[node_id] = (
                str(node.get("class_type")),
                nodes.is_changed(ctx, str(node.get("class_type")), inputs),
                tuple(parts),
            )
            return memo[node_id]

        for node_id in job.prompt:
            signature(node_id)
        return memo

    def _order(self, job: Job, cached: set[str]) -> list[str]:
        """Output nodes and their uncached dependencies, dependencies first."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(node_id: str) -> None:
            if node_id in seen:
                return
            seen.add(node_id)
            if node_id not in cached:
                for value in job.prompt[node_id]["inputs"].values():
                    if isinstance(value, list) and len(value) == 2:
                        visit(value[0])
            order.append(node_id)

        for output_id in job.outputs:
            visit(output_id)
        return order

    def execute(self, job: Job) -> tuple[dict, dict, dict]:
        self.interrupt_flag.clear()
        job.add_message("execution_start", {"prompt_id": job.prompt_id}, broadcast=False)
        signatures = self._signatures(job)
        with self.cache_lock:
            wanted = set(signatures.values())
            self.cache = {k: v for k, v in self.cache.items() if k in wanted}
            cached = {nid for nid, sig in signatures.items() if sig in self.cache}
        job.add_message(
            "execution_cached", {"nodes": [n for n in job.prompt if n in cached], "prompt_id": job.prompt_id}
        )
        results: dict[str, tuple] = {}
        ui_outputs: dict[str, dict] = {}
        executed: list[str] = []
        order = self._order(job, cached)
        first_run = next((n for n in order if n not in cached), None)
        sampler = next((n for n in order if n not in cached and job.prompt[n]["class_type"] in nodes.SAMPLERS), None)
        for node_id in order:
            class_type = job.prompt[node_id]["class_type"]
            if node_id in cached:
                with self.cache_lock:
                    results[node_id], ui = self.cache[signatures[node_id]]
                if node_id in job.outputs:
                    job.send(
                        "executed", {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": job.prompt_id}
                    )
                    if ui:
                        ui_outputs[node_id] = ui
                    job.set_state(node_id, "finished", 1.0, 1.0)
                executed.append(node_id)
                continue
            job.set_state(node_id, "running", 0.0, 1.0)
            job.send("executing", {"node": node_id, "display_node": node_id, "prompt_id": job.prompt_id})
            self.last_node_id = node_id
            inputs: dict[str, Any] = {}
            try:
                if self.interrupt_flag.is_set():
                    self._finish_interrupted_node()
                    raise Interrupted()
                inputs = self._inputs(job, node_id, results)
                self._check_model_files(class_type, inputs)
                if node_id == first_run and sampler is None:
                    job.failure_point(node_id)
                function = nodes.NODES.get(class_type)
                if function is None:
                    raise NotImplementedError(f"The ComfyUI reference server does not implement node {class_type}")
                outputs, ui = function(NodeContext(job, node_id), **inputs)
            except Interrupted:
                job.add_message(
                    "execution_interrupted",
                    {"prompt_id": job.prompt_id, "node_id": node_id, "node_type": class_type, "executed": executed},
                    broadcast=True,
                )
                return {}, {}, {"status_str": "error", "completed": False, "messages": job.messages}
            except Exception as exc:
                tip = OOM_TIP if isinstance(exc, nodes.OutOfMemoryError) else ""
                if tip:
                    self.free_memory()
                job.add_message(
                    "execution_error",
                    {
                        "prompt_id": job.prompt_id,
                        "node_id": node_id,
                        "node_type": class_type,
                        "executed": executed,
                        "exception_message": f"{exc}\n{tip}",
                        "exception_type": _type_name(exc),
                        "traceback": traceback.format_tb(exc.__traceback__),
                        "current_inputs": {k: [_format(v)] for k, v in inputs.items()},
                        "current_outputs": list(job.prompt),
                    },
                )
                return {}, {}, {"status_str": "error", "completed": False, "messages": job.messages}
            results[node_id] = outputs
            with self.cache_lock:
                self.cache[signatures[node_id]] = (outputs, ui)
            if ui is not None:
                ui_outputs[node_id] = ui
                job.send(
                    "executed", {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": job.prompt_id}
                )
            job.set_state(node_id, "finished", 1.0, 1.0)
            executed.append(node_id)
        job.add_message("execution_success", {"prompt_id": job.prompt_id})
        meta = {n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n} for n in ui_outputs}
        return ui_outputs, meta, {"status_str": "success", "completed": True, "messages": job.messages}

    def _finish_interrupted_node(self) -> None:
        """The node that was running when the interrupt came goes on for the lag (shutdown ends it early)."""
        remaining = self.interrupted_at + self.interrupt_lag_seconds - time.monotonic()
        if remaining > 0:
            self.stopping.wait(remaining)

    def _check_model_files(self, class_type: str, inputs: dict[str, Any]) -> None:
        for (loader, input_name), folder in MODEL_COMBOS.items():
            if loader == class_type and (folder, inputs.get(input_name)) in self.damaged_models:
                raise SafetensorError(DAMAGED_FILE_MESSAGE)

    def _inputs(self, job: Job, node_id: str, results: dict[str, tuple]) -> dict[str, Any]:
        spec = self.catalogue.base[job.prompt[node_id]["class_type"]]["input"]
        declared = {*spec.get("required", {}), *spec.get("optional", {})}
        inputs = {}
        for name, value in job.prompt[node_id]["inputs"].items():
            if name not in declared:
                continue
            if isinstance(value, list) and len(value) == 2:
                inputs[name] = results[value[0]][value[1]]
            else:
                inputs[name] = value
        return inputs


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _format(value: Any) -> Any:
    return value if value is None or isinstance(value, (int, float, bool, str)) else str(value)
