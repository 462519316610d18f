"""Text overlap metrics: exact match and token F1 (SQuAD v1.1 normalization), BLEU (sacrebleu), ROUGE (rouge-score)."""
from __future__ import annotations

import re
import string
from collections import Counter
from functools import lru_cache

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


def sentence_bleu_score(prediction: str, reference: str) -> float:
    """sacrebleu's smoothed sentence BLEU of one pair (0-100)."""
    import sacrebleu

    return sacrebleu.sentence_bleu(prediction, [reference]).score


@register("bleu", description="Corpus BLEU (sacrebleu, 0-100): n-gram overlap pooled over all answers.",
          outputs={"bleu": True})
def bleu(predictions: list[str], references: list[str]) -> dict:
    """Corpus BLEU as sacrebleu reports it, so numbers compare with published ones.

    >>> round(bleu(["warfarin inhibits the vitamin K epoxide reductase enzyme"],
    ...            ["warfarin inhibits vitamin K epoxide reductase enzyme"])["bleu"], 2)
    59.46
    """
    import sacrebleu

    return {"bleu": sacrebleu.corpus_bleu(list(predictions), [list(references)]).score}


@register("sentence_bleu", description="Sentence BLEU (sacrebleu, 0-100) per answer, averaged over items.",
          outputs={"sentence_bleu": True}, item_fn=sentence_bleu_score)
def sentence_bleu(predictions: list[str], references: list[str]) -> dict:
    """Mean per-item BLEU: every answer weighs the same, unlike corpus BLEU.

    >>> round(sentence_bleu(["metformin lowers hepatic glucose output", "aspirin"],
    ...                     ["metformin lowers hepatic glucose production", "ibuprofen"])["sentence_bleu"], 2)
    33.44
    """
    return {"sentence_bleu": _mean(map(sentence_bleu_score, predictions, references))}


ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge_l_score(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure of one pair (rouge-score, Porter stemmer)."""
    return _rouge_scorer().score(reference, prediction)["rougeL"].fmeasure


@register("rouge", description="ROUGE-1/2/L/Lsum F-measure (rouge-score, stemmed), averaged over items.",
          outputs={name: True for name in ROUGE_TYPES}, item_fn=rouge_l_score)
def rouge(predictions: list[str], references: list[str]) -> dict:
    """Mean ROUGE F-measures as Google's rouge-score computes them; rougeLsum splits sentences on newlines.

    >>> scores = rouge(["Atorvastatin can cause myopathy."], ["Atorvastatin may cause myopathy and rhabdomyolysis."])
    >>> {k: round(v, 3) for k, v in scores.items()}
    {'rouge1': 0.6, 'rouge2': 0.25, 'rougeL': 0.6, 'rougeLsum': 0.6}
    """
    scorer = _rouge_scorer()
    items = [scorer.score(ref, pred) for pred, ref in zip(predictions, references)]
    return {name: _mean(item[name].fmeasure for item in items) for name in ROUGE_TYPES}
