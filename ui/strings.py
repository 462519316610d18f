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
    "Data": "Upload and validate OpenAI JSONL, Alpaca, ShareGPT, CSV/Parquet and Hugging Face datasets; bundled DDI, "
    "drug QA and molecular property sets.",
}
