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
    "Evaluate": "YAML benchmarks (DDI classification, drug QA, MedQuAD, SMILES tasks) scored with BLEU, ROUGE, "
    "BERTScore, QuestEval-style and domain metrics for any model: builtin, local fine-tunes and OpenAI.",
    "Leaderboard": "Every evaluation result in one sortable table, filtered by benchmark and metric.",
    "OpenAI": "Dataset checks, exact offline token counts, cost estimates before you pay, job tracking and a cost ledger.",
}

DATA_INTRO = ("Upload a data set (OpenAI chat JSONL, Alpaca, ShareGPT, prompt/completion, CSV, Parquet) or pick a "
              "bundled one. Validation lists every problem with its line and field before anything runs.")
UPLOAD_LABEL = "Upload a file (up to {limit:.0f} MiB); it is validated at once"
UPLOAD_TOO_BIG = "{name} is {size:.1f} MiB; the upload limit is {limit:.0f} MiB (PHARMATUNE_MAX_UPLOAD_MB)."
NO_DATA_CHOSEN = "Choose a bundled set or upload a file first."
DATA_OK = "✅ Valid."
DATA_INVALID = "❌ Not valid yet: fix the errors below (warnings do not block)."
