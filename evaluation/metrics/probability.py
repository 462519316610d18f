"""Metrics from each item's probability per label (choice mode gives them): ranking, calibration, balance.

Accuracy alone cannot tell a model that ranks pairs well but sits on one side of the threshold from one that
guesses. AUROC and AUPRC read the ranking, Brier and ECE the calibration, balanced accuracy the classes' recall.
Accuracy, F1 and MCC of the chosen label come from `classification`, so choice and generate rows share them.
Written with numpy (no scikit-learn on the hot path): the bootstrap reruns each metric a thousand times; the
tests check every value against scikit-learn's. Probabilities are one dict per item, label -> probability.
"""
from __future__ import annotations

from typing import Sequence

from evaluation.metrics import MetricError, register
from evaluation.metrics.classification import _canonical, gold_labels

PROBABILITY_INPUTS = ("predictions", "references", "probabilities")
ECE_BINS = 10


def _labels(name: str, probabilities: list, labels: Sequence[str] | None) -> list[str]:
    if labels:
        return list(labels)
    first = next((p for p in probabilities if isinstance(p, dict)), None)
    if not first:
        raise MetricError(f"{name}: no item has probabilities (choice mode gives them; generate mode does not)")
    return list(first)


def _matrix(name: str, references: list, probabilities: list, labels: Sequence[str] | None):
    """(labels, gold class index per item, items × labels probability matrix); errors name the item."""
    import numpy as np

    labels = _labels(name, probabilities, labels)
    gold = [labels.index(label) for label in gold_labels(name, references, labels)]
    rows = []
    for i, probs in enumerate(probabilities):
        if not isinstance(probs, dict):
            raise MetricError(f"{name}: item {i} has no probabilities (choice mode gives them; generate mode "
                              "does not)")
        lowered = {str(k).strip().lower(): v for k, v in probs.items()}
        missing = [label for label in labels if label.lower() not in lowered]
        if missing:
            raise MetricError(f"{name}: item {i} has no probability for {missing[0]!r}")
        rows.append([float(lowered[label.lower()]) for label in labels])
    matrix = np.asarray(rows, dtype=float)
    if not np.all(np.isfinite(matrix)) or matrix.min() < 0 or matrix.max() > 1:
        raise MetricError(f"{name}: probabilities must be numbers between 0 and 1")
    return labels, np.asarray(gold), matrix


def _positive(name: str, labels: list[str], positive: str | None) -> int:
    if positive is None:
        return 0
    label = _canonical(positive, labels)
    if label is None:
        raise MetricError(f"{name}: positive label {positive!r} is not one of {labels}")
    return labels.index(label)


def binary_auroc(y, scores) -> float | None:
    """Area under the ROC curve: the chance that a random positive outscores a random negative (ties count
    half), from average ranks. None when only one class is present."""
    import numpy as np

    y = np.asarray(y, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if not pos or not neg:
        return None
    _, inverse, counts = np.unique(np.asarray(scores, dtype=float), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def binary_average_precision(y, scores) -> float | None:
    """Average precision (scikit-learn's AUPRC): precision at each distinct threshold, weighted by the recall
    it adds. None when there is no positive."""
    import numpy as np

    y = np.asarray(y, dtype=float)
    if not y.sum():
        return None
    order = np.argsort(-np.asarray(scores, dtype=float), kind="mergesort")
    ranked, hits = np.asarray(scores, dtype=float)[order], y[order]
    cut = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # last index of each distinct score
    tps = np.cumsum(hits)[cut]
    precision = tps / (cut + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _one_vs_rest(fn, gold, matrix, positive: int) -> float | None:
    """Binary: `fn` on the positive class. More labels: the macro mean over classes where it is defined."""
    import numpy as np

    if matrix.shape[1] == 2:
        return fn(gold == positive, matrix[:, positive])
    values = [v for c in range(matrix.shape[1]) if (v := fn(gold == c, matrix[:, c])) is not None]
    return float(np.mean(values)) if values else None


@register("auroc", kind="label", inputs=PROBABILITY_INPUTS, options=("labels", "positive"),
          description="Area under the ROC curve from the label probabilities (binary; one-vs-rest macro for more).",
          outputs={"auroc": True})
def auroc(predictions: list, references: list, probabilities: list[dict], labels: Sequence[str] | None = None,
          positive: str | None = None) -> dict:
    """AUROC of the positive label's probability (default: the first label, "interaction" for DDI); with more
    than two labels the macro mean of each label against the rest. None when no class can be ranked (one class
    only); with several labels, classes absent from the references are left out of the mean.

    >>> auroc(["interaction"] * 4, ["interaction", "no interaction", "interaction", "no interaction"],
    ...       [{"interaction": p, "no interaction": 1 - p} for p in (0.9, 0.8, 0.7, 0.2)])
    {'auroc': 0.75}
    """
    labels, gold, matrix = _matrix("auroc", references, probabilities, labels)
    return {"auroc": _one_vs_rest(binary_auroc, gold, matrix, _positive("auroc", labels, positive))}


@register("auprc", kind="label", inputs=PROBABILITY_INPUTS, options=("labels", "positive"),
          description="Area under the precision-recall curve (average precision; one-vs-rest macro for more labels).",
          outputs={"auprc": True})
def auprc(predictions: list, references: list, probabilities: list[dict], labels: Sequence[str] | None = None,
          positive: str | None = None) -> dict:
    """Average precision of the positive label's probability, as scikit-learn computes it (a step function, no
    interpolation); with more labels the macro mean over labels. None when the positive class never occurs.

    >>> r = auprc(["interaction"] * 4, ["interaction", "no interaction", "interaction", "no interaction"],
    ...           [{"interaction": p, "no interaction": 1 - p} for p in (0.9, 0.8, 0.7, 0.2)])
    >>> round(r["auprc"], 4)
    0.8333
    """
    labels, gold, matrix = _matrix("auprc", references, probabilities, labels)
    return {"auprc": _one_vs_rest(binary_average_precision, gold, matrix, _positive("auprc", labels, positive))}


def brier_item(prediction, reference, probabilities: dict | None = None, **_) -> float | None:
    """One item's Brier score: the squared distance of its probabilities from the one-hot answer, halved for
    two labels (so it is the classic binary (p − y)²)."""
    if not isinstance(probabilities, dict) or not probabilities:
        return None
    gold = str(reference).strip().lower()
    total = sum((float(p) - (str(label).strip().lower() == gold)) ** 2 for label, p in probabilities.items())
    return total / 2 if len(probabilities) == 2 else total


@register("brier", kind="label", inputs=PROBABILITY_INPUTS, options=("labels",), item_fn=brier_item,
          description="Brier score: mean squared error of the label probabilities against the one-hot answer.",
          outputs={"brier": False})
def brier(predictions: list, references: list, probabilities: list[dict], labels: Sequence[str] | None = None
          ) -> dict:
    """Mean over items of Σ over labels (p − y)², y the one-hot answer; for two labels halved, which is the
    binary (p − y)² of either label (scikit-learn's brier_score_loss in both cases). 0 is perfect; a model that
    always says 50/50 on two labels scores 0.25.

    >>> r = brier(["interaction", "no interaction"], ["interaction", "interaction"],
    ...           [{"interaction": 0.8, "no interaction": 0.2}, {"interaction": 0.4, "no interaction": 0.6}])
    >>> round(r["brier"], 4)
    0.2
    """
    labels, gold, matrix = _matrix("brier", references, probabilities, labels)
    onehot = (gold[:, None] == range(len(labels))).astype(float)
    per_item = ((matrix - onehot) ** 2).sum(axis=1) * (0.5 if len(labels) == 2 else 1.0)
    return {"brier": float(per_item.mean())}


@register("ece", kind="label", inputs=PROBABILITY_INPUTS, options=("labels",),
          description="Expected calibration error: |accuracy − confidence| over 10 equal-width bins of the top probability.",
          outputs={"ece": False})
def ece(predictions: list, references: list, probabilities: list[dict], labels: Sequence[str] | None = None) -> dict:
    """Expected calibration error: items binned by their top probability into 10 equal-width bins ((0, 0.1],
    (0.1, 0.2], … ; 0 in the first), then the item-weighted mean of |accuracy − mean confidence| per bin. The
    top probability's label is the answer it is calibrated for. 0 is perfectly calibrated.

    >>> ece(["interaction"] * 4, ["interaction", "interaction", "no interaction", "interaction"],
    ...     [{"interaction": 0.95, "no interaction": 0.05}] * 2 + [{"interaction": 0.65, "no interaction": 0.35}] * 2)
    {'ece': 0.1}
    """
    import numpy as np

    labels, gold, matrix = _matrix("ece", references, probabilities, labels)
    confidence = matrix.max(axis=1)
    correct = (matrix.argmax(axis=1) == gold).astype(float)
    bins = np.searchsorted(np.linspace(0, 1, ECE_BINS + 1)[1:-1], confidence, side="left")
    total = 0.0
    for b in np.unique(bins):
        inside = bins == b
        total += inside.sum() * abs(correct[inside].mean() - confidence[inside].mean())
    return {"ece": float(round(total / len(confidence), 12))}


@register("balanced_accuracy", kind="label", options=("labels",),
          description="Balanced accuracy: the mean recall of the classes (unparseable answers count as wrong).",
          outputs={"balanced_accuracy": True})
def balanced_accuracy(predictions: list, references: list, labels: Sequence[str] | None = None) -> dict:
    """The mean over the gold classes of the share of their items predicted right (scikit-learn's
    balanced_accuracy_score): always answering "interaction" on balanced pairs scores 0.5, whatever accuracy
    says on an unbalanced set. Reads only the predicted labels, so generate mode has it too.

    >>> balanced_accuracy(["interaction", "interaction", "interaction", "no interaction"],
    ...                   ["interaction", "interaction", "interaction", "no interaction"][::-1])
    {'balanced_accuracy': 0.3333333333333333}
    """
    import numpy as np

    names = list(labels) if labels else sorted({str(r).strip() for r in references})
    gold = gold_labels("balanced_accuracy", references, names)
    gold_arr = np.asarray(gold, dtype=object)
    right = np.asarray([_canonical(p, names) == g for p, g in zip(predictions, gold)])
    recalls = [right[gold_arr == c].mean() for c in dict.fromkeys(gold)]
    return {"balanced_accuracy": float(np.mean(recalls))}


def norm_item(prediction, reference, normalised_probabilities: dict | None = None, **_) -> float | None:
    """1.0 when the label with the highest length-normalised probability is the reference."""
    if not isinstance(normalised_probabilities, dict) or not normalised_probabilities:
        return None
    best = max(normalised_probabilities, key=lambda k: normalised_probabilities[k])
    return float(str(best).strip().lower() == str(reference).strip().lower())


@register("accuracy_norm", kind="label", inputs=("predictions", "references", "normalised_probabilities"),
          item_fn=norm_item,
          description="Accuracy when each label's log-probability is divided by its token count (lm-eval's acc_norm).",
          outputs={"accuracy_norm": True})
def accuracy_norm(predictions: list, references: list, normalised_probabilities: list[dict]) -> dict:
    """Accuracy of the label chosen by per-token log-probability instead of the sum, which favours short labels
    ("interaction" is one token where "no interaction" is two). Choice mode gives `normalised_probabilities`.

    >>> accuracy_norm(["interaction", "interaction"], ["no interaction", "interaction"],
    ...               [{"interaction": 0.4, "no interaction": 0.6}, {"interaction": 0.7, "no interaction": 0.3}])
    {'accuracy_norm': 1.0}
    """
    scores = []
    for i, (probs, reference) in enumerate(zip(normalised_probabilities, references)):
        value = norm_item(None, reference, probs)
        if value is None:
            raise MetricError(f"accuracy_norm: item {i} has no length-normalised probabilities (choice mode "
                              "gives them)")
        scores.append(value)
    return {"accuracy_norm": sum(scores) / len(scores)}
