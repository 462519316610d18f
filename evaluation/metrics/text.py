"""Text overlap metrics: exact match and token F1 (SQuAD v1.1 normalization), BLEU (sacrebleu), ROUGE (rouge-score)."""
from __future__ import annotations

import re
import string
from collections import Counter

from evaluation.metrics import register

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalization: lower case, drop punctuation and articles, collapse whitespace."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_score(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1_score(prediction: str, reference: str) -> float:
    """SQuAD token F1 of one pair: the harmonic mean of token precision and recall after normalization."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


@register("exact_match", description="Share of answers equal to the reference after SQuAD normalization.",
          outputs={"exact_match": True}, item_fn=exact_match_score)
def exact_match(predictions: list[str], references: list[str]) -> dict:
    """Exact match after lower-casing and dropping punctuation and articles.

    >>> exact_match(["The Warfarin.", "aspirin"], ["warfarin", "ibuprofen"])
    {'exact_match': 0.5}
    """
    return {"exact_match": _mean(map(exact_match_score, predictions, references))}


@register("token_f1", description="SQuAD token F1 between answer and reference, averaged over items.",
          outputs={"token_f1": True}, item_fn=token_f1_score)
def token_f1(predictions: list[str], references: list[str]) -> dict:
    """Mean per-item token F1 (SQuAD v1.1).

    >>> token_f1(["warfarin inhibits vitamin K"], ["warfarin blocks vitamin K epoxide reductase"])
    {'token_f1': 0.6}
    """
    return {"token_f1": _mean(map(token_f1_score, predictions, references))}
