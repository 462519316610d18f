"""Each model is loaded once per process and shared; least-recently-used models are unloaded over a memory budget."""
from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from typing import Callable

from models.generation import ChatModel


class ModelCache:
    """Thread-safe: two chat sessions asking for the same model at once wait for one load, not two."""

    def __init__(self, budget_bytes: Callable[[], int]):
        self._budget_bytes = budget_bytes
        self._models: OrderedDict[str, ChatModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, key: str, load: Callable[[], ChatModel]) -> ChatModel:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._models:
                    self._models.move_to_end(key)
                    return self._models[key]
            model = load()
            with self._lock:
                self._models[key] = model
                self._evict_over_budget()
        return model

    def _evict_over_budget(self) -> None:
        """Drop the oldest models until the rest fit; the newest always stays, even alone over budget."""
        evicted = False
        while len(self._models) > 1 and sum(m.memory_bytes for m in self._models.values()) > self._budget_bytes():
            self._models.popitem(last=False)
            evicted = True
        if evicted:
            gc.collect()

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def clear(self) -> None:
        with self._lock:
            had_models = bool(self._models)
            self._models.clear()
        if had_models:  # a full collection costs about 0.25 s once torch is imported: only when it frees weights
            gc.collect()
