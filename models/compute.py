"""All torch work in a process (loading and generating) runs on one long-lived thread.

Why: torch's CPU kernels use OpenMP, and every OS thread that calls into them gets its own OpenMP pool. On a
2-core machine a second pool competes with the first one's spinning workers: measured on SmolLM2 in bf16,
greedy decoding fell from ~40 to ~20 tok/s when it ran in a thread other than the first one to use torch.
Gradio answers each request on some worker thread, so without this every chat would run at half speed.
One thread also serialises generation, which keeps a shared model safe across chat sessions.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")
_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pharmatune-compute")
        return _executor


def on_compute_thread() -> bool:
    return threading.current_thread().name.startswith("pharmatune-compute")


def submit(fn: Callable[..., T], *args, **kwargs) -> Future:
    """Queue `fn` on the compute thread; work queued earlier finishes first."""
    return _pool().submit(fn, *args, **kwargs)


def run(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run `fn` on the compute thread and wait for it (directly, when already there)."""
    if on_compute_thread():
        return fn(*args, **kwargs)
    return submit(fn, *args, **kwargs).result()
