"""Label metrics for DDI tasks: a robust label parser and accuracy / precision / recall / F1 / MCC (scikit-learn).

The parser turns a free-text answer into one of the benchmark's labels. The first label the answer states
wins, so "Interaction. Actually, no interaction" is "interaction": we score what the model said first, not
what it settled on. Negated phrasings ("no interaction", "do not interact") are matched as whole phrases, so
the word "interaction" inside them never counts as the label "interaction".
"""
from __future__ import annotations

import re
import warnings
from typing import Iterable, Mapping, Sequence

from evaluation.metrics import MetricError, register

# Anything between "no"/"not" and "interact" that does not flip the meaning: up to three words such as
# "clinically relevant", "known", "significant", "evidence of". Words that start a new claim are excluded,
# and hedges are excluded, so neither "no doubt there is an interaction" nor "not sure whether they interact" is
# read as "no interaction".
_STOP = r"doubt|question|but|only|there|is|are|was|were|sure|certain|clear|whether|if|know"
_FILLER = rf"(?:(?!(?:{_STOP})\b)[\w-]+\s+){{0,3}}"

# Canonical label -> extra phrasings (regular expressions, matched case-insensitively between word boundaries).
# Severity: the scale most DDI references use (Lexicomp, DDInter: major / moderate / minor) maps onto the
# prompt's danger / warning / caution, and "contraindicated" / "avoid the combination" (the prompt's own
# gloss of danger) means danger. "severe" is not mapped: models echo "How severe is ...".
DEFAULT_ALIASES: dict[str, list[str]] = {
    "no interaction": [
        rf"no\s+{_FILLER}(?:interactions?|DDIs?)",  # no interaction, no clinically relevant interaction
        rf"not\s+{_FILLER}interact(?:s|ion|ions)?",  # do not interact, is not a significant interaction
        rf"\w+n[’']t\s+{_FILLER}interact(?:s|ion|ions)?",  # don't interact, isn't any interaction
        r"(?:cannot|never)\s+interact",
        rf"without\s+{_FILLER}interactions?",
        r"absence\s+of\s+(?:an?\s+|any\s+)?(?:[\w-]+\s+){0,2}interactions?",
        r"non-?interact\w*",
        r"interactions?\s+(?:is|are)\s+(?:unlikely|not\s+expected|not\s+likely|absent|not\s+present)",
        r"unlikely\s+to\s+interact",
    ],
    "interaction": [
        r"interact(?:s|ing|ions)?",  # they interact, interactions; "interaction" itself is the label
        r"DDIs?",
    ],
    "danger": [r"dangerous", r"major", r"contraindicated", r"avoid(?:\s+the)?\s+combination"],
    "warning": [r"moderate", r"close\s+monitoring"],
    "caution": [r"minor", r"mild"],
}

# Text that names a label without stating it: an echoed question ("Is there an interaction ...?") and a topic
# mention ("The interaction between warfarin and ..."). It is blanked out (positions kept) before matching,
# so "The interaction between A and B is not clinically relevant" states no label instead of "interaction".
_MENTIONS = re.compile(r"[^.!?\n]*\?|\bthe\s+(?:(?:potential|possible|drug|reported)\s+)?interactions?\b",
                       re.IGNORECASE)
_BINARY = {"interaction", "no interaction"}
# A bare leading yes/no answers "Is there a clinically relevant interaction?"; only for the DDI binary labels.
_LEADING = re.compile(r"^\W*(?:(?:final\s+)?answer\s*[:\-]\s*)?(yes|no)\b(?!\s+(?:doubt|question)\b)",
                      re.IGNORECASE)
UNPARSEABLE = "unparseable"
_NONE = "\0unparseable"  # the stand-in class for unparseable answers in scikit-learn's inputs


def _label_pattern(label: str) -> str:
    words = [re.escape(word) for word in label.split()]
    return r"[\s_-]+".join(words)  # "no interaction", "no_interaction", "no-interaction"


def _patterns(labels: Sequence[str], aliases: Mapping[str, Iterable[str]] | None) -> list[tuple[re.Pattern, str]]:
    patterns = []
    for label in labels:
        key = label.lower()
        sources = [_label_pattern(label), *DEFAULT_ALIASES.get(key, ())]
        for name, extra in (aliases or {}).items():
            if name.lower() == key:
                sources.extend([extra] if isinstance(extra, str) else extra)
        patterns += [(re.compile(rf"(?<!\w)(?:{src})(?!\w)", re.IGNORECASE), label) for src in sources]
    return patterns


def parse_label(text: str | None, labels: Sequence[str], aliases: Mapping[str, Iterable[str]] | None = None
                ) -> str | None:
    """The label the answer states first, spelled as in `labels`; None when it states none.

    Echoed questions and "the interaction ..." topic mentions are ignored first. Labels and aliases
    match case-insensitively on word boundaries. The earliest match wins; at the same
    position the longer one does ("no interaction" over a leading "no"). `aliases` (label -> regexes or
    phrases) are added to DEFAULT_ALIASES. For the DDI binary labels a leading "yes"/"no" also counts.
    Severity synonyms: major, contraindicated, dangerous, "avoid the combination" -> danger; moderate,
    "close monitoring" -> warning; minor, mild -> caution.

    >>> parse_label("No, there is no clinically relevant interaction.", ["interaction", "no interaction"])
    'no interaction'
    >>> parse_label("Interaction. Actually, no interaction.", ["interaction", "no interaction"])
    'interaction'
    >>> parse_label("Major: avoid the combination", ["danger", "warning", "caution"])
    'danger'
    >>> print(parse_label("I am not sure.", ["interaction", "no interaction"]))
    None
    >>> parse_label("Is there an interaction? No.", ["interaction", "no interaction"])
    'no interaction'
    >>> print(parse_label("The interaction between warfarin and", ["interaction", "no interaction"]))
    None
    """
    if not labels:
        raise MetricError("parse_label needs the benchmark's labels, e.g. ['interaction', 'no interaction']")
    text = _MENTIONS.sub(lambda m: " " * len(m.group()), text or "")
    best: tuple[int, int, str] | None = None  # (start, -length, label)
    for pattern, label in _patterns(labels, aliases):
        match = pattern.search(text)
        if match and (best is None or (match.start(), -len(match.group())) < best[:2]):
            best = (match.start(), -len(match.group()), label)
    if {label.lower() for label in labels} == _BINARY:
        lead = _LEADING.match(text)
        if lead and (best is None or (lead.start(1), -len(lead.group(1))) < best[:2]):
            wanted = "interaction" if lead.group(1).lower() == "yes" else "no interaction"
            best = (lead.start(1), 0, next(label for label in labels if label.lower() == wanted))
    return best[2] if best else None


def _canonical(value, labels: Sequence[str]) -> str | None:
    """`value` spelled as in `labels` (case and outer spaces ignored); None when it is no label."""
    if value is None:
        return None
    lowered = str(value).strip().lower()
    return next((label for label in labels if label.lower() == lowered), None)


def gold_labels(metric: str, references: Sequence, labels: Sequence[str]) -> list[str]:
    """Each reference spelled as in `labels`; a reference that is no label is a MetricError naming the item."""
    gold = []
    for i, reference in enumerate(references):
        label = _canonical(reference, labels)
        if label is None:
            raise MetricError(f"{metric}: reference {i} is {reference!r}, not one of the labels {list(labels)}")
        gold.append(label)
    return gold


def label_match(prediction: str | None, reference: str, **_) -> float:
    """1.0 when the parsed label is the gold label (case ignored), else 0.0; None (unparseable) is wrong."""
    if prediction is None:
        return 0.0
    return float(str(prediction).strip().lower() == str(reference).strip().lower())


@register("classification", kind="label", item_fn=label_match, options=("labels", "positive"),
          description="Accuracy, precision, recall, F1 and MCC of parsed labels (binary or macro); "
                      "unparseable answers count as wrong.",
          outputs={"accuracy": True, "precision": True, "recall": True, "f1": True, "mcc": True,
                   "unparseable": False})
def classification(predictions: list[str | None], references: list[str], labels: Sequence[str] | None = None,
                   positive: str | None = None) -> dict:
    """Label scores by scikit-learn; an unparseable answer (None) is a wrong answer, not a skipped one.

    `labels` orders the confusion matrix (default: the sorted gold labels). Two labels: precision, recall and
    F1 of `positive` (default: the first label, "interaction" for DDI). More: macro averages over `labels`.
    Unparseable answers are a distinct extra class: they stay in accuracy's denominator, lower the gold
    class's recall and MCC (never counted as a correct negative), and get no precision/F1 of their own
    (averages run over the real labels only). A prediction that is no label (case ignored) is unparseable too.
    Undefined precision/recall (no predictions) is 0.

    >>> r = classification(["interaction", "no interaction", None, "interaction"],
    ...                    ["interaction", "no interaction", "interaction", "no interaction"])
    >>> {k: round(r[k], 4) for k in ("accuracy", "precision", "recall", "f1", "mcc", "unparseable")}
    {'accuracy': 0.5, 'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'mcc': 0.2236, 'unparseable': 1}
    >>> r["confusion_matrix"]
    {'labels': ['interaction', 'no interaction'], 'columns': ['interaction', 'no interaction', 'unparseable'], \
'matrix': [[1, 0, 1], [1, 1, 0]]}
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, matthews_corrcoef, precision_recall_fscore_support

    labels = list(labels) if labels else sorted({str(r).strip() for r in references})
    gold = gold_labels("classification", references, labels)
    guess = [_canonical(p, labels) or _NONE for p in predictions]
    binary = len(labels) == 2
    if binary:
        positive = _canonical(positive, labels) if positive is not None else labels[0]
        if positive is None:
            raise MetricError(f"classification: positive label is not one of {labels}")
    precision, recall, f1, _ = precision_recall_fscore_support(
        gold, guess, labels=[positive] if binary else labels, average="macro", zero_division=0.0)
    with warnings.catch_warnings():  # one class only: MCC is 0 and scikit-learn says so
        warnings.simplefilter("ignore", UserWarning)
        mcc = matthews_corrcoef(gold, guess)
    matrix = confusion_matrix(gold, guess, labels=labels + [_NONE])[: len(labels)]
    return {
        "accuracy": float(accuracy_score(gold, guess)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "mcc": float(mcc),
        "unparseable": guess.count(_NONE),
        "confusion_matrix": {"labels": labels, "columns": labels + [UNPARSEABLE],
                             "matrix": [[int(n) for n in row] for row in matrix]},
        "average": "binary" if binary else "macro",
    }
