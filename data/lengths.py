"""Token-length analysis with any local model's tokenizer: counts, percentiles, a histogram, a suggested maximum.

Lengths are counted on the text the model really sees: the chat template applied (a default system prompt
included), then tokenized in one Rust batch (about 5x faster than calling the tokenizer per text). The template
is rendered once per sequence of roles with placeholder contents and then filled in, which is exact for templates
that insert content as is (checked on the placeholders; other templates are rendered per record).
"""
from __future__ import annotations

import math
import re
from typing import Callable

from data.records import Record

SAMPLE_FOR_SUGGESTION = 1000  # the regression study picked its maximum from the longest of 1,000 samples
ROUND_TO = 64


def tokenizer_counter(tokenizer) -> Callable[[list[Record]], list[int]]:
    """records -> token lengths with this (transformers) tokenizer, chat template applied where it has one.
    models.tokenizers.token_counter(ref) builds one from a model reference."""
    backend = getattr(tokenizer, "backend_tokenizer", None)

    render = _template_renderer(tokenizer) if getattr(tokenizer, "chat_template", None) else None

    def count(records: list[Record]) -> list[int]:
        if render:
            texts = [render(r.messages) for r in records]
        else:
            texts = ["\n\n".join(m["content"] for m in r.messages) for r in records]
        if backend is not None:
            return [len(e.ids) for e in backend.encode_batch_fast(texts, add_special_tokens=False)]
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    return count


def _template_renderer(tokenizer) -> Callable[[list[dict]], str]:
    """messages -> templated text, rendering the Jinja template once per role sequence (see the module doc)."""
    skeletons: dict[tuple, list[str] | None] = {}

    def skeleton(roles: tuple) -> list[str] | None:
        # Spaces around each mark reveal a template that trims content; order and count, one that moves or repeats it.
        marks = [f" \x00{i}\x00 " for i in range(len(roles))]
        probe = [{"role": role, "content": mark} for role, mark in zip(roles, marks)]
        text = tokenizer.apply_chat_template(probe, tokenize=False)
        pattern = " \x00\\d+\x00 "
        return re.split(pattern, text) if re.findall(pattern, text) == marks else None

    def render(messages: list[dict]) -> str:
        roles = tuple(m["role"] for m in messages)
        if roles not in skeletons:
            skeletons[roles] = skeleton(roles)
        pieces = skeletons[roles]
        if pieces is None:
            return tokenizer.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in messages],
                                                 tokenize=False)
        out = [pieces[0]]
        for message, piece in zip(messages, pieces[1:]):
            out += (message["content"], piece)
        return "".join(out)

    return render


def analyze(lengths: list[int], bins: int = 20) -> dict:
    """Summary figures, a histogram as (from, to, count) rows, and the suggested maximum length."""
    if not lengths:
        return {"count": 0}
    ordered = sorted(lengths)

    def pct(p: float) -> int:
        return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]

    sample = lengths[:SAMPLE_FOR_SUGGESTION]
    return {"count": len(lengths), "mean": round(sum(lengths) / len(lengths), 1), "min": ordered[0],
            "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": ordered[-1],
            "suggested_max_length": suggest_max_length(sample),
            "histogram": histogram(lengths, bins)}


def suggest_max_length(sample: list[int]) -> int:
    """The longest example of the sample rounded up to a multiple of 64: nothing is cut, little is padded."""
    return max(ROUND_TO, math.ceil(max(sample) / ROUND_TO) * ROUND_TO)


def histogram(lengths: list[int], bins: int = 20) -> list[tuple[int, int, int]]:
    low, high = min(lengths), max(lengths)
    width = max(1, math.ceil((high - low + 1) / bins))
    counts = [0] * math.ceil((high - low + 1) / width)
    for n in lengths:
        counts[(n - low) // width] += 1
    return [(low + i * width, low + (i + 1) * width - 1, c) for i, c in enumerate(counts)]
