"""User-facing strings in one place, so wording can change without touching logic."""

TITLE = "PharmaTune"
SUBTITLE = "Fine-tune, evaluate, compare and chat with language models for drug discovery and biomedical work."

EMPTY_MESSAGE = "The message is empty: type a question before sending."
LOADING = "_Loading {ref} (the first use of the builtin model converts its GGUF once, about 20 s; later loads take about a second) …_"
ERROR_PREFIX = "⚠️ "
UNEXPECTED = "{ref} failed: {kind}: {detail}"
KEY_HELP = "Kept in this browser session only: never saved to disk, the store or logs. OPENAI_API_KEY works too."

UPCOMING = {
    "Fine-tune": "Full fine-tuning, LoRA, IA3, BitFit and QLoRA on chat, classification and regression data, "
    "as jobs that survive a page reload, with live loss curves, checkpoints and resume.",
    "OpenAI": "Dataset checks, exact offline token counts, cost estimates before you pay, job tracking and a cost ledger.",
}

DATA_INTRO = ("Upload a data set (OpenAI chat JSONL, Alpaca, ShareGPT, prompt/completion, CSV, Parquet) or pick a "
              "bundled one. Validation lists every problem with its line and field before anything runs.")
UPLOAD_LABEL = "Upload a file (up to {limit:.0f} MiB); it is validated at once"
UPLOAD_TOO_BIG = "{name} is {size:.1f} MiB; the upload limit is {limit:.0f} MiB (PHARMATUNE_MAX_UPLOAD_MB)."
NO_DATA_CHOSEN = "Choose a bundled set or upload a file first."
DATA_OK = "✅ Valid."
DATA_INVALID = "❌ Not valid yet: fix the errors below (warnings do not block)."

EVAL_INTRO = ("Evaluate one or more models on YAML benchmarks (evaluation/benchmarks/). Each evaluation is a job: it "
              "keeps running after a page reload, can be cancelled, and lands on the Leaderboard as each model "
              "finishes a benchmark.")
EVAL_NO_MODEL = "Choose at least one model (or type a reference such as dummy:echo and press Enter)."
EVAL_NO_BENCHMARK = "Choose at least one benchmark."
EVAL_BAD_LIMIT = "The limit must be a whole number: 0 runs every item, N runs the first N (got {value})."
EVAL_BAD_BATCH = "The batch size must be a whole number of at least 1 (got {value})."
EVAL_UNKNOWN_BENCHMARK = "{name} is not a benchmark here; known: {known}."
EVAL_UNAVAILABLE = "Not offered here: {reasons}."
EVAL_BAD_VARIANT = "{bench} has no prompt variant {variant!r}; it has {known}."
EVAL_NO_RUN = "Start an evaluation, or pick a recent run to watch."
EVAL_UNKNOWN_RUN = "There is no evaluation run {run_id!r} in the store."
EVAL_RUN_STATUS = {
    "queued": "⏳ Status: **queued**",
    "running": "⏳ Status: **running**",
    "done": "✅ Status: **done**: {results} result(s), now on the Leaderboard tab.",
    "failed": "❌ Status: **failed**: {error}",
    "cancelled": "⏹ Status: **cancelled**: finished (model, benchmark) pairs stay on the leaderboard; the rest was "
                 "discarded.",
}
EVAL_CANCELLED = "Cancelled {run_id}."
EVAL_ALREADY_FINISHED = "{run_id} had already finished ({status}); nothing to cancel."
EVAL_LOADING = "loading the model …"

BOARD_INTRO = ("Every evaluation result, one row per model, benchmark and prompt variant; best first (↑ higher is "
               "better, ↓ lower is better). Click a row for its predictions, worst first.")
BOARD_ALL = "all"
BOARD_ANY_METHOD = "any"
BOARD_EMPTY = "The leaderboard is empty: run an evaluation in the Evaluate tab (or `python -m evaluation run`)."
BOARD_NO_ROW = "There is no leaderboard row {row_id}."
BOARD_PICK_TWO = "Choose two rows to compare (A and B), or click a row and press “Compare A with the clicked row”."
BOARD_CLICK_FIRST = "Click a row of the table first."
BOARD_EXPORTED = "Wrote {rows} row(s) to {name}."
