"""The prompt queue and history of the reference server (thread-safe).

Pending items are a heap of `(number, prompt_id, prompt, extra_data, outputs_to_execute)`, so a
`front` prompt (negative number) runs next; `GET /queue` lists the heap as is (not sorted), as the
real server does. History keeps at most 10000 entries, oldest dropped first.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Callable

MAX_HISTORY = 10000
SENSITIVE_EXTRA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


def public_item(item: tuple) -> list:
    """Queue/history item without sensitive extra_data keys."""
    number, prompt_id, prompt, extra, outputs = item[:5]
    extra = {k: v for k, v in extra.items() if k not in SENSITIVE_EXTRA_KEYS}
    return [number, prompt_id, prompt, extra, outputs]


class PromptQueue:
    def __init__(self, on_change: Callable[[], None]):
        self.cond = threading.Condition()
        self.pending: list[tuple] = []
        self.running: dict[int, tuple] = {}
        self.history: OrderedDict[str, dict] = OrderedDict()
        self._task_ids = 0
        self.on_change = on_change

    def put(self, item: tuple) -> None:
        with self.cond:
            heapq.heappush(self.pending, item)
            self.cond.notify()
        self.on_change()

    def get(self, timeout: float | None = None) -> tuple[tuple, int] | None:
        with self.cond:
            if not self.pending:
                self.cond.wait(timeout)
                if not self.pending:
                    return None
            item = heapq.heappop(self.pending)
            self._task_ids += 1
            self.running[self._task_ids] = item
        self.on_change()
        return item, self._task_ids

    def task_done(self, task_id: int, outputs: dict, meta: dict, status: dict) -> None:
        with self.cond:
            item = self.running.pop(task_id)
            while len(self.history) >= MAX_HISTORY:
                self.history.popitem(last=False)
            self.history[item[1]] = {"prompt": public_item(item), "outputs": outputs, "status": status, "meta": meta}
        self.on_change()

    def remaining(self) -> int:
        with self.cond:
            return len(self.pending) + len(self.running)

    def snapshot(self) -> tuple[list, list]:
        with self.cond:
            return [public_item(i) for i in self.running.values()], [public_item(i) for i in self.pending]

    def known_id(self, prompt_id: str) -> bool:
        with self.cond:
            items = [*self.pending, *self.running.values()]
            return prompt_id in self.history or any(i[1] == prompt_id for i in items)

    def delete(self, prompt_id: str) -> bool:
        with self.cond:
            for index, item in enumerate(self.pending):
                if item[1] == prompt_id:
                    self.pending.pop(index)
                    heapq.heapify(self.pending)
                    break
            else:
                return False
        self.on_change()
        return True

    def clear(self) -> None:
        with self.cond:
            self.pending.clear()
        self.on_change()

    def get_history(self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1) -> dict:
        with self.cond:
            if prompt_id is not None:
                return {prompt_id: self.history[prompt_id]} if prompt_id in self.history else {}
            items = list(self.history.items())
        if offset < 0 and max_items is not None:
            offset = max(0, len(items) - max_items)
        offset = max(0, offset)
        end = len(items) if max_items is None else offset + max_items
        return dict(items[offset:end])

    def delete_history(self, prompt_id: str | None = None) -> None:
        with self.cond:
            if prompt_id is None:
                self.history.clear()
            else:
                self.history.pop(prompt_id, None)
