"""Load control for /v1: a bounded admission queue, and a batcher that lets several clients share one generate call.

Why batch: on CPU (and more so on a GPU) one forward pass over 8 prompts costs little more than over one, so
clients that ask the same model at the same time get their answers in about the time of one. The batcher keeps
requests for a few milliseconds (settings.api_batch_window_seconds) after the first arrives, then hands every
request waiting for the same model and the same sampling settings to one `model.generate`; whatever arrives while
that runs is the next batch. Generation itself still runs on the process's one compute thread (models/compute.py).
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

from models import ChatModel, GenerationParams
from serve.http_errors import ApiError


class Admission:
    """At most `limit()` requests inside at once (generating or waiting); one more gets 429 with Retry-After."""

    def __init__(self, limit: Callable[[], int]):
        self._limit = limit
        self._lock = threading.Lock()
        self.inside = 0
        self._seconds = 1.0  # moving average of a request's time inside: what Retry-After says

    def enter(self) -> Ticket:
        with self._lock:
            limit = self._limit()
            if self.inside >= limit:
                wait = self.retry_after()
                raise ApiError(429, f"The server is busy: {self.inside} requests are being answered or waiting, its "
                               f"limit (PHARMATUNE_API_QUEUE={limit}). Retry in {wait} s.",
                               type="requests", code="rate_limit_exceeded", headers={"Retry-After": str(wait)})
            self.inside += 1
        return Ticket(self)

    def retry_after(self) -> int:
        return max(1, min(60, math.ceil(self._seconds)))

    def _leave(self, seconds: float) -> None:
        with self._lock:
            self.inside -= 1
            self._seconds = 0.8 * self._seconds + 0.2 * seconds


class Ticket:
    """One admitted request; `leave` (idempotent) gives its place back once its generation has ended."""

    def __init__(self, admission: Admission):
        self._admission = admission
        self._start = time.monotonic()
        self._left = False
        self._lock = threading.Lock()

    def leave(self) -> None:
        with self._lock:
            if self._left:
                return
            self._left = True
        self._admission._leave(time.monotonic() - self._start)


@dataclass
class BatchStats:
    """What the batcher did, for tests and the benchmark: generate calls, requests answered, the largest batch."""

    calls: int = 0
    requests: int = 0
    largest: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=256))  # sizes of the latest batches


@dataclass
class _Job:
    model: ChatModel
    messages: list[dict]
    params: GenerationParams
    future: Future
    arrived: float


def _key(model: ChatModel, params: GenerationParams) -> tuple:
    """Requests share a call only when the model object and every sampling setting are the same."""
    return (id(model), params.max_new_tokens, params.temperature, params.top_p, tuple(params.stop), params.seed)


class Batcher:
    """One dispatcher thread; `submit` returns a Future of the request's Generation."""

    def __init__(self, max_batch: Callable[[], int], window_seconds: Callable[[], float]):
        self._max_batch = max_batch
        self._window = window_seconds
        self._pending: OrderedDict[tuple, list[_Job]] = OrderedDict()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.stats = BatchStats()

    def submit(self, model: ChatModel, messages: list[dict], params: GenerationParams) -> Future:
        job = _Job(model, messages, params, Future(), time.monotonic())
        with self._cond:
            self._pending.setdefault(_key(model, params), []).append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="pharmatune-api-batcher", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return job.future

    def _next_batch(self) -> list[_Job]:
        """Wait for work, then for the window to close (or the batch to fill); the oldest group goes first."""
        with self._cond:
            while not self._pending:
                self._cond.wait()
            key = min(self._pending, key=lambda k: self._pending[k][0].arrived)
            deadline = self._pending[key][0].arrived + self._window()
            limit = self._max_batch()
            while len(self._pending[key]) < limit and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            group = self._pending[key]
            batch, rest = group[:limit], group[limit:]
            if rest:
                self._pending[key] = rest
            else:
                del self._pending[key]
        # A client that went away before its batch started (its Future was cancelled) is left out.
        return [job for job in batch if job.future.set_running_or_notify_cancel()]

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                continue
            try:
                results = batch[0].model.generate([job.messages for job in batch], batch[0].params)
                if len(results) != len(batch):
                    raise RuntimeError(f"{batch[0].model.ref} answered {len(results)} of {len(batch)} prompts")
            except BaseException as exc:  # noqa: BLE001 - every waiting client hears why, the thread lives on
                for job in batch:
                    job.future.set_exception(exc)
                continue
            self.stats.calls += 1
            self.stats.requests += len(batch)
            self.stats.largest = max(self.stats.largest, len(batch))
            self.stats.recent.append(len(batch))
            for job, result in zip(batch, results):
                job.future.set_result(result)
