"""What a fine-tuning job will cost: billed tokens per epoch × epochs × price per 1M training tokens.

Tokens per example follow tokens.py's rule; an example longer than the model's limit is billed at the limit
(OpenAI truncates it) and is reported as an error. "auto" epochs follow the rule OpenAI publishes in its
data-preparation cookbook, so the figure is an estimate: the API may choose differently.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
SHOWN_EPOCHS = (1, 3, 5)


def auto_epochs(n_examples: int) -> int:
    """OpenAI's default: aim at ~3 passes, but at least 100 and at most 25,000 examples seen, within 1–25 epochs."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def parse_epochs(value) -> int | None:
    """None for "auto" (or empty), else a whole number 1–50; ValueError names the field."""
    text = str(value if value is not None else "auto").strip().lower()
    if text in ("", "auto"):
        return None
    try:
        epochs = int(float(text)) if float(text).is_integer() else None
    except ValueError:
        epochs = None
    if epochs is None or not 1 <= epochs <= 50:
        raise ValueError(f"epochs must be auto or a whole number from 1 to 50 (got {value!r}).")
    return epochs


@dataclass
class Estimate:
    file: str
    model: str
    price_row: str | None
    encoding: str
    examples: int
    tokens_per_epoch: int  # billed: each example capped at the model's limit
    epochs: int
    epochs_auto: bool
    price_per_1m: float | None
    price_status: str
    prices_as_of: str
    cost_usd: float | None
    by_epochs: dict[int, float | None]
    seconds: float | None  # expected training time, when a reference rate is known
    time_source: str
    token_stats: dict
    checks: object = field(repr=False)  # checks.CheckResult
    elapsed_s: float = 0.0

    @property
    def trained_tokens(self) -> int:
        return self.tokens_per_epoch * self.epochs

    def summary(self) -> dict:
        c = self.checks
        return {
            "file": self.file, "model": self.model, "price_row": self.price_row, "encoding": self.encoding,
            "examples": self.examples, "billed_tokens_per_epoch": self.tokens_per_epoch,
            "epochs": self.epochs, "epochs_rule": "auto (OpenAI's default rule; an estimate)" if self.epochs_auto else "set",
            "trained_tokens": self.trained_tokens, "price_per_1m_training_tokens": self.price_per_1m,
            "price_status": self.price_status, "prices_as_of": self.prices_as_of,
            "estimated_cost_usd": None if self.cost_usd is None else round(self.cost_usd, 2),
            "cost_by_epochs_usd": {str(k): None if v is None else round(v, 2) for k, v in self.by_epochs.items()},
            "estimated_seconds": None if self.seconds is None else round(self.seconds),
            "time_source": self.time_source, "tokens_per_example": self.token_stats,
            "errors": c.errors, "warnings": c.warnings, "ok": c.errors == 0,
            "counting_rule": "3 tokens per message + role + content (+1 per name) + 3 per example (OpenAI cookbook)",
        }


def _time_rate(model: str, row) -> tuple[float | None, str]:
    """Trained tokens per second: from this store's finished jobs on the model, else the price table's reference."""
    from openai_ft import ledger

    measured = ledger.measured_rate(row.model if row else model)
    if measured:
        return measured
    if row and row.reference_time:
        ref = row.reference_time
        return ref["trained_tokens"] / ref["seconds"], str(ref.get("source", "price table"))
    return None, "unknown: no finished job on this model yet"


def estimate(path: str | Path, model: str, epochs=None, table=None) -> Estimate:
    """Check the file, count its tokens exactly and price the job. `epochs`: None/"auto" or a number."""
    from openai_ft import checks, pricing, tokens

    start = time.perf_counter()
    table = table or pricing.load()
    result = checks.check_file(path)
    row = table.resolve(model)
    if row is None:
        result.add(None, "model", "warning", "unknown_price",
                   f"{model!r} has no row in the price table ({table.path}); the cost cannot be estimated. "
                   f"Known: {', '.join(table.models)}.")
    enc_name = tokens.encoding_name(row.model if row else model)
    counts = tokens.ChatCounter(enc_name).count_examples(result.examples) if result.examples else []
    limit = row.max_tokens_per_example if row else None
    billed = 0
    for line, n in zip(result.example_lines, counts):
        if limit and n > limit:
            result.add(line, "messages", "error", "too_long",
                       f"{n:,} tokens; {row.model} trains on at most {limit:,} per example (the rest is cut off).")
        billed += min(n, limit) if limit else n
    chosen = parse_epochs(epochs)
    n_epochs = chosen or auto_epochs(len(counts))
    price = row.training if row else None

    def cost(e):
        return None if price is None else billed * e * price / pricing.PER

    rate, time_source = _time_rate(model, row)
    stats = {}
    if counts:
        ordered = sorted(counts)
        stats = {"min": ordered[0], "mean": round(sum(ordered) / len(ordered), 1),
                 "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], "max": ordered[-1]}
    return Estimate(
        file=str(path), model=model, price_row=row.model if row else None, encoding=enc_name, examples=len(counts),
        tokens_per_epoch=billed, epochs=n_epochs, epochs_auto=chosen is None, price_per_1m=price,
        price_status=row.status if row else "unknown", prices_as_of=table.as_of, cost_usd=cost(n_epochs),
        by_epochs={e: cost(e) for e in sorted({*SHOWN_EPOCHS, n_epochs})},
        seconds=billed * n_epochs / rate if rate else None, time_source=time_source, token_stats=stats,
        checks=result, elapsed_s=time.perf_counter() - start)
