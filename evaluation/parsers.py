"""Answer parsers: a model's raw output → what the benchmark's metrics read (text, a label, a number, SMILES).

Every parser first drops a reasoning block (`<think>…</think>`, as DeepSeek-R1 writes), so reasoning models
are scored on their answer. A parser's `kind` must match the `kind` of each metric the benchmark lists.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Callable

_THINKING = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)


def final_answer(text: str) -> str:
    """The output without its reasoning block and surrounding whitespace."""
    return _THINKING.sub("", text or "").strip()


def _text(text: str, **_) -> str:
    return final_answer(text)


def _first_line(text: str, **_) -> str:
    return next((line.strip() for line in final_answer(text).splitlines() if line.strip()), "")


def _label(text: str, labels=(), aliases=None, **_):
    from evaluation.metrics.classification import parse_label

    return parse_label(final_answer(text), labels, aliases)


def _number(text: str, **_):
    from evaluation.metrics.regression import parse_number

    return parse_number(final_answer(text))


def _smiles(text: str, **_):
    from evaluation.metrics.smiles import extract_smiles

    return extract_smiles(final_answer(text))


@dataclass(frozen=True)
class Parser:
    fn: Callable[..., Any]
    kind: str  # text | label | number | smiles: what the metrics read
    description: str


PARSERS: dict[str, Parser] = {
    "text": Parser(_text, "text", "the whole answer"),
    "first_line": Parser(_first_line, "text", "the first non-empty line of the answer"),
    "label": Parser(_label, "label", "the first label the answer states (None when it states none)"),
    "number": Parser(_number, "number", "the first number in the answer (None when there is none)"),
    "smiles": Parser(_smiles, "smiles", "every SMILES-like token in the answer, valid or not"),
}


def get(name: str) -> Parser:
    if name not in PARSERS:
        close = difflib.get_close_matches(name, PARSERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown answer parser {name!r}.{hint} Known: {', '.join(PARSERS)}")
    return PARSERS[name]
