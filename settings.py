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


def viewer_upload_bytes() -> int:
    """Uploads a viewer of a public app may hand to a tab (PHARMATUNE_VIEWER_UPLOAD_MB, default 2): enough for a
    small data set to validate, far below an operator's limit, so anonymous visitors cannot fill the disk."""
    return min(int(float(os.environ.get("PHARMATUNE_VIEWER_UPLOAD_MB", "2")) * 1024**2), max_upload_bytes())


def chat_concurrency() -> int:
    """Chat answers the app writes at once for all visitors together (PHARMATUNE_CHAT_CONCURRENCY, default 4): a
    message beyond it gets a sentence at once instead of waiting, unanswered, behind other people's answers."""
    return max(1, int(os.environ.get("PHARMATUNE_CHAT_CONCURRENCY", "4")))


def chat_per_visitor() -> int:
    """Chat answers one visitor (browser session) may have being written at once (PHARMATUNE_CHAT_PER_VISITOR,
    default 2: one side-by-side comparison, which writes two)."""
    return max(1, int(os.environ.get("PHARMATUNE_CHAT_PER_VISITOR", "2")))


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


def api_keys() -> list[str]:
    """Bearer keys the /v1 API accepts (PHARMATUNE_API_KEYS, comma-separated). None set: the API answers only on an
    app bound to loopback, where anyone who can reach it already runs it."""
    return [key.strip() for key in os.environ.get("PHARMATUNE_API_KEYS", "").split(",") if key.strip()]


def api_queue() -> int:
    """/v1 requests admitted at once, generating or waiting (PHARMATUNE_API_QUEUE, default 32); one more is answered
    429 with Retry-After instead of waiting unboundedly behind the others."""
    return max(1, int(os.environ.get("PHARMATUNE_API_QUEUE", "32")))


def api_max_batch() -> int:
    """Non-streaming /v1 requests for the same model and settings that share one generate call at most
    (PHARMATUNE_API_MAX_BATCH, default 16)."""
    return max(1, int(os.environ.get("PHARMATUNE_API_MAX_BATCH", "16")))


def api_batch_window_seconds() -> float:
    """How long the /v1 batcher waits after a first request for others to join it (PHARMATUNE_API_BATCH_MS,
    default 10 ms: far below a generate call, long enough for clients that start together)."""
    return max(0.0, float(os.environ.get("PHARMATUNE_API_BATCH_MS", "10")) / 1000)


def api_serves_dummy() -> bool:
    """A test hook (PHARMATUNE_API_DUMMY=1): the /v1 API also lists and serves the weight-free dummy: models."""
    return os.environ.get("PHARMATUNE_API_DUMMY") == "1"
