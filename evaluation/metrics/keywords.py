"""Keyword recall: the share of expected terms (e.g. known adverse events) that an answer names."""
from __future__ import annotations

import re
from functools import lru_cache

from evaluation.metrics import MetricError, register

_SEPARATORS = r"[\s\-\u2010-\u2015]"  # space, hyphen and the Unicode dashes


@lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern | None:
    """A term as a regex: whole words, any case, hyphen/space/no gap between its words, singular or plural."""
    words = [w for w in re.split(_SEPARATORS + "+", term.strip().lower()) if w]
    if not words:
        return None
    parts = []
    for word in words:
        if len(word) > 3 and word.endswith(("y", "ies")):  # "neuropathy" and "neuropathies"
            parts.append(re.escape(word[:-3] if word.endswith("ies") else word[:-1]) + "(?:ys?|ies)")
            continue
        if len(word) > 3 and word.endswith("es"):
            word = word[:-2]  # "rashes", "headaches": the stem takes an optional e, es or s below
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        parts.append(re.escape(word) + r"(?:e?s|e)?")
    return re.compile(r"(?<!\w)" + (_SEPARATORS + "*").join(parts) + r"(?!\w)", re.IGNORECASE)


def _terms(keywords) -> list[str]:
    if keywords is None:
        return []
    if isinstance(keywords, str):  # one term, never its characters
        keywords = [keywords]
    return [k for k in keywords if k and str(k).strip()]


def keyword_recall_score(prediction: str, reference: str = "", keywords=()) -> float | None:
    """Share of one item's terms found in the answer; None when the item lists no terms."""
    patterns = [p for p in map(_term_pattern, map(str, _terms(keywords))) if p is not None]
    if not patterns:
        return None
    text = str(prediction or "")
    joined = re.sub(r"(?<=\w)[\-\u2010-\u2015](?=\w)", "", text)  # "non-steroidal" also as "nonsteroidal"
    return sum(bool(p.search(text) or p.search(joined)) for p in patterns) / len(patterns)


@register("keyword_recall", description="Share of the expected terms (e.g. adverse events) named in the answer.",
          outputs={"keyword_recall": True}, inputs=("predictions", "references", "keywords"),
          item_fn=keyword_recall_score)
def keyword_recall(predictions: list[str], references: list[str], keywords: list[list[str]]) -> dict:
    """Adverse-event recall: a safety answer should name the known risks, whatever else it says.

    >>> keyword_recall(["May cause Headaches and QT prolongation."], [""], [["headache", "QT-prolongation", "rash"]])
    {'keyword_recall': 0.6666666666666666}
    """
    scores = [keyword_recall_score(p, r, k) for p, r, k in zip(predictions, references, keywords)]
    scores = [s for s in scores if s is not None]
    if not scores:
        raise MetricError("keyword_recall: no item lists any keywords")
    return {"keyword_recall": sum(scores) / len(scores)}
