"""One resolver from a model reference string to a loaded ChatModel.

References: builtin:<name>, hf:<folder or hub id>[?adapter=<folder>], run:<training run id>, openai:<model>,
dummy:<behaviour>.
"""
from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from typing import Callable

import settings
from models import compute
from models.cache import ModelCache
from models.errors import ModelError, UnknownModelError
from models.generation import ChatModel


@dataclass(frozen=True)
class Backend:
    load: Callable[..., ChatModel]  # (rest of the reference, api_key=...) -> ChatModel
    example: str
    cached: bool = True  # local weights are loaded once per process; API clients are cheap and per key


def _builtin(rest: str, api_key=None):
    from models import builtin

    return builtin.load(rest)


def _hf(rest: str, api_key=None):
    from models import hf

    return hf.load(rest)


def _run(rest: str, api_key=None):
    from models import run

    return run.load(rest)


def _openai(rest: str, api_key=None):
    from models import openai_chat

    return openai_chat.load(rest, api_key)


def _dummy(rest: str, api_key=None):
    from models import dummy

    return dummy.load(rest)


BACKENDS: dict[str, Backend] = {
    "builtin": Backend(_builtin, "builtin:smollm2-135m-instruct"),
    "hf": Backend(_hf, "hf:local_models/my-model"),
    "run": Backend(_run, "run:training-20261121-120000-ab12"),
    "openai": Backend(_openai, "openai:gpt-4o-mini", cached=False),
    "dummy": Backend(_dummy, "dummy:echo"),
}

CACHE = ModelCache(settings.model_memory_budget_bytes)


def parse(ref: str) -> tuple[str, str]:
    """'hf:path' → ('hf', 'path'), with a 'did you mean' for unknown schemes."""
    ref = (ref or "").strip()
    scheme, sep, rest = ref.partition(":")
    if not ref or not sep:
        raise UnknownModelError(
            f"{ref!r} is not a model reference; write scheme:name, e.g. "
            + ", ".join(b.example for b in BACKENDS.values())
        )
    if scheme not in BACKENDS:
        close = get_close_matches(scheme, BACKENDS, n=1)
        hint = f" Did you mean {close[0]}:{rest}?" if close else ""
        raise UnknownModelError(
            f"{ref!r}: unknown model scheme {scheme!r}.{hint} Known schemes: " + ", ".join(f"{s}:" for s in BACKENDS)
        )
    return scheme, rest


def resolve(ref: str, *, api_key: str | None = None) -> ChatModel:
    """The loaded model for `ref`, loading it on first use. Errors are ModelError with a readable message."""
    scheme, rest = parse(ref)
    backend = BACKENDS[scheme]
    try:
        if not backend.cached:
            return backend.load(rest, api_key=api_key)
        # Weights load on the compute thread, where they will run (models/compute.py says why).
        return CACHE.get(f"{scheme}:{rest}", lambda: compute.run(backend.load, rest, api_key=api_key))
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - name the reference whatever the loader raised
        raise ModelError(f"{ref} could not be loaded: {type(exc).__name__}: {exc}") from exc


def loads_weights(ref: str) -> bool:
    """True for references whose weights load into this process (and so are worth preloading or announcing)."""
    return BACKENDS[parse(ref)[0]].cached


def is_loaded(ref: str) -> bool:
    return ref.strip() in CACHE.loaded()
