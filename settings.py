"""Where PharmaTune keeps things, read from the environment so Docker, Spaces and tests can redirect them.

Every value is read at call time (not import time) so tests and child processes can change it.
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Converted models and other derived files (default ~/.cache/pharmatune)."""
    return Path(os.environ.get("PHARMATUNE_CACHE", Path.home() / ".cache" / "pharmatune")).expanduser()


def local_models_dir() -> Path:
    """Folders of transformers models the user dropped in; each one shows in the model lists."""
    return Path(os.environ.get("PHARMATUNE_LOCAL_MODELS", "local_models")).expanduser()


def runs_dir() -> Path:
    """One folder per job (config.yaml, events.jsonl, checkpoints ...)."""
    return Path(os.environ.get("PHARMATUNE_RUNS", "runs")).expanduser()


def model_memory_budget_bytes() -> int:
    """Loaded models are unloaded least-recently-used first once their weights exceed this."""
    return int(float(os.environ.get("PHARMATUNE_MODEL_MEMORY_GB", "8")) * 1024**3)


def inference_dtype() -> str:
    """auto = bfloat16 (about twice float32's speed on CPU for SmolLM2, same greedy text), else a torch dtype name."""
    return os.environ.get("PHARMATUNE_DTYPE", "auto")


def evaluation_dtype() -> str:
    """Evaluation jobs: `exact` (float32 on CPU, so a score does not depend on the batch size: bfloat16 changed
    28 of 200 greedy DDI answers between batch 1 and 16) unless PHARMATUNE_EVAL_DTYPE or PHARMATUNE_DTYPE is set."""
    return os.environ.get("PHARMATUNE_EVAL_DTYPE") or os.environ.get("PHARMATUNE_DTYPE") or "exact"


def trust_remote_code() -> bool:
    """Off unless the user sets PHARMATUNE_TRUST_REMOTE_CODE=1: remote code runs with the app's rights."""
    return os.environ.get("PHARMATUNE_TRUST_REMOTE_CODE", "0") == "1"


def data_dir() -> Path:
    """Bundled sets (built from packages), uploads and exports. Uploads are confined to data_dir()/uploads."""
    return Path(os.environ.get("PHARMATUNE_DATA", "datasets")).expanduser()


def shared_data_dir() -> Path:
    """The real benchmark sets beside the project (../shared/data): read, never copied into the repo."""
    default = Path(__file__).resolve().parent.parent / "shared" / "data"
    return Path(os.environ.get("PHARMATUNE_SHARED_DATA", default)).expanduser()


def max_upload_bytes() -> int:
    """Uploads larger than this are refused before they are read (PHARMATUNE_MAX_UPLOAD_MB, default 200)."""
    return int(float(os.environ.get("PHARMATUNE_MAX_UPLOAD_MB", "200")) * 1024**2)


def store_url() -> str:
    """The store (runs, leaderboard, later OpenAI jobs and costs): any SQLAlchemy URL; SQLite in runs/ by default.

    A team shares one leaderboard by pointing PHARMATUNE_STORE_URL at PostgreSQL (postgresql+psycopg://...).
    """
    return os.environ.get("PHARMATUNE_STORE_URL") or f"sqlite:///{(runs_dir() / 'pharmatune.sqlite').resolve()}"


def step_gate_file() -> Path | None:
    """A test hook (PHARMATUNE_STEP_GATE): while this file holds a number N, training waits after step N until the
    file is removed or holds a larger number. Lets a test catch a run mid-training without racing the clock."""
    value = os.environ.get("PHARMATUNE_STEP_GATE")
    return Path(value) if value else None
