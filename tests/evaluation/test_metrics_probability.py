"""Probability metrics (choice mode) against scikit-learn on random cases, binary and multi-class."""
from __future__ import annotations

import random

import numpy as np
import pytest

from evaluation.metrics import MetricError, compute, get

BINARY = ["interaction", "no interaction"]
SEVERITY = ["danger", "warning", "caution"]


def random_case(labels: list[str], n: int, seed: int, ties: bool = False):
    """References with every label present, probabilities per item (a Dirichlet draw, or coarse ones with ties),
    and the likeliest label as the prediction, as choice mode makes them."""
    rng = np.random.default_rng(seed)
    refs = [labels[i % len(labels)] for i in range(n)]
    random.Random(seed).shuffle(refs)
    matrix = rng.dirichlet(np.ones(len(labels)), size=n)
    if ties:
        matrix = np.round(matrix, 1)
        matrix = matrix / matrix.sum(axis=1, keepdims=True)
    probs = [dict(zip(labels, row.tolist())) for row in matrix]
    preds = [labels[int(np.argmax(row))] for row in matrix]
    return preds, refs, probs, matrix


CASES = [(labels, n, seed, ties) for labels in (BINARY, SEVERITY) for n in (7, 40, 200) for seed in (0, 1, 2)
         for ties in (False, True)]


@pytest.mark.parametrize("labels, n, seed, ties", CASES)
def test_auroc_auprc_brier_equal_scikit_learn(labels, n, seed, ties):
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
    from sklearn.preprocessing import label_binarize

    preds, refs, probs, matrix = random_case(labels, n, seed, ties)
    opts = {"probabilities": probs, "labels": labels}
    if len(labels) == 2:
        positive = [r == labels[0] for r in refs]
        assert compute("auroc", preds, refs, **opts)["auroc"] == pytest.approx(roc_auc_score(positive, matrix[:, 0]))
        assert compute("auprc", preds, refs, **opts)["auprc"] == pytest.approx(
            average_precision_score(positive, matrix[:, 0]))
        assert compute("brier", preds, refs, **opts)["brier"] == pytest.approx(
            brier_score_loss(positive, matrix[:, 0]))
        other = compute("auroc", preds, refs, **opts, positive="no interaction")["auroc"]
        assert other == pytest.approx(roc_auc_score([not p for p in positive], matrix[:, 1]))
    else:
        onehot = label_binarize(refs, classes=labels)
        order = sorted(range(len(labels)), key=lambda i: labels[i])  # scikit-learn wants its labels sorted
        assert compute("auroc", preds, refs, **opts)["auroc"] == pytest.approx(
            roc_auc_score(refs, matrix[:, order], multi_class="ovr", average="macro",
                          labels=[labels[i] for i in order]))
        assert compute("auprc", preds, refs, **opts)["auprc"] == pytest.approx(
            average_precision_score(onehot, matrix, average="macro"))
        assert compute("brier", preds, refs, **opts)["brier"] == pytest.approx(
            brier_score_loss(refs, matrix[:, order], labels=[labels[i] for i in order]))


@pytest.mark.parametrize("labels, n, seed, ties", CASES)
def test_accuracy_balanced_accuracy_and_mcc_equal_scikit_learn(labels, n, seed, ties):
    """Choice mode's accuracy and MCC come from `classification` (so its rows share columns with generate
    mode); balanced accuracy from this family."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, matthews_corrcoef

    preds, refs, probs, _ = random_case(labels, n, seed, ties)
    assert compute("balanced_accuracy", preds, refs, labels=labels)["balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(refs, preds))
    scores = compute("classification", preds, refs, labels=labels)
    assert scores["accuracy"] == pytest.approx(accuracy_score(refs, preds))
    assert scores["mcc"] == pytest.approx(matthews_corrcoef(refs, preds))
    assert scores["unparseable"] == 0


@pytest.mark.parametrize("labels, n, seed", [(labels, n, seed) for labels in (BINARY, SEVERITY)
                                             for n in (40, 300) for seed in (0, 1, 2)])
def test_ece_equals_the_calibration_curve_weighted_by_bin_counts(labels, n, seed):
    from sklearn.calibration import calibration_curve

    preds, refs, probs, matrix = random_case(labels, n, seed)
    confidence = matrix.max(axis=1)
    correct = np.array([p == r for p, r in zip(preds, refs)])
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=10, strategy="uniform")
    counts = np.histogram(confidence, bins=10, range=(0, 1))[0]
    expected = float(np.sum(counts[counts > 0] * np.abs(accuracy - mean_confidence)) / n)
    assert compute("ece", preds, refs, probabilities=probs, labels=labels)["ece"] == pytest.approx(expected)


def test_ece_bins_are_closed_on_the_right():
    # 0.5 and 0.6 sit on bin edges: (0.4, 0.5] and (0.5, 0.6]; both right -> |1 - 0.5| and |1 - 0.6|
    probs = [{"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.4}]
    assert compute("ece", ["a", "a"], ["a", "a"], probabilities=probs)["ece"] == pytest.approx(0.45)


def test_perfect_and_uninformative_models():
    refs = BINARY * 5
    sure = [{label: float(label == r) for label in BINARY} for r in refs]
    assert compute("auroc", refs, refs, probabilities=sure)["auroc"] == 1.0
    assert compute("auprc", refs, refs, probabilities=sure)["auprc"] == 1.0
    assert compute("brier", refs, refs, probabilities=sure)["brier"] == 0.0
    assert compute("ece", refs, refs, probabilities=sure)["ece"] == 0.0
    flat = [{label: 0.5 for label in BINARY}] * len(refs)
    assert compute("auroc", refs, refs, probabilities=flat)["auroc"] == 0.5
    assert compute("brier", refs, refs, probabilities=flat)["brier"] == 0.25


def test_one_class_only_gives_no_auroc_and_a_missing_class_is_left_out_of_the_macro_mean():
    from sklearn.metrics import roc_auc_score

    probs = [{"interaction": p, "no interaction": 1 - p} for p in (0.9, 0.4, 0.7)]
    assert compute("auroc", ["interaction"] * 3, ["interaction"] * 3, probabilities=probs)["auroc"] is None
    _, refs, probs, matrix = random_case(SEVERITY, 30, 3)
    refs = [r if r != "caution" else "danger" for r in refs]  # no caution item: its one-vs-rest AUROC is undefined
    expected = np.mean([roc_auc_score([r == c for r in refs], matrix[:, i]) for i, c in enumerate(SEVERITY[:2])])
    assert compute("auroc", refs, refs, probabilities=probs, labels=SEVERITY)["auroc"] == pytest.approx(expected)


def test_brier_per_item_scores_average_to_the_metric():
    preds, refs, probs, _ = random_case(SEVERITY, 25, 4)
    item = get("brier").item_fn
    assert np.mean([item(p, r, probabilities=q) for p, r, q in zip(preds, refs, probs)]) == pytest.approx(
        compute("brier", preds, refs, probabilities=probs)["brier"])
    preds, refs, probs, _ = random_case(BINARY, 25, 4)
    assert np.mean([item(p, r, probabilities=q) for p, r, q in zip(preds, refs, probs)]) == pytest.approx(
        compute("brier", preds, refs, probabilities=probs)["brier"])


def test_accuracy_norm_reads_the_length_normalised_probabilities():
    refs = ["no interaction", "interaction", "interaction"]
    normalised = [{"interaction": 0.4, "no interaction": 0.6}, {"interaction": 0.7, "no interaction": 0.3},
                  {"interaction": 0.2, "no interaction": 0.8}]
    assert compute("accuracy_norm", ["interaction"] * 3, refs, normalised_probabilities=normalised)[
        "accuracy_norm"] == pytest.approx(2 / 3)


def test_bad_inputs_are_named():
    probs = [{"interaction": 0.9, "no interaction": 0.1}]
    with pytest.raises(MetricError, match="auroc: item 1 has no probabilities .*generate mode does not"):
        compute("auroc", ["interaction"] * 2, ["interaction"] * 2, probabilities=probs + [None])
    with pytest.raises(MetricError, match="auroc: no item has probabilities .*generate mode does not"):
        compute("auroc", ["interaction"], ["interaction"], probabilities=[None])
    with pytest.raises(MetricError, match="reference 0 is 'maybe', not one of the labels"):
        compute("brier", ["interaction"], ["maybe"], probabilities=probs)
    with pytest.raises(MetricError, match="item 0 has no probability for 'caution'"):
        compute("ece", ["danger"], ["danger"], probabilities=[{"danger": 1.0, "warning": 0.0}], labels=SEVERITY)
    with pytest.raises(MetricError, match="between 0 and 1"):
        compute("auprc", ["interaction"], ["interaction"], probabilities=[{"interaction": 1.5, "no interaction": 0}])
    with pytest.raises(MetricError, match="positive label 'yes' is not one of"):
        compute("auroc", ["interaction"], ["interaction"], probabilities=probs, positive="yes")


def test_registry_metadata_of_the_family():
    for name, headline, higher in [("auroc", "auroc", True), ("auprc", "auprc", True), ("brier", "brier", False),
                                   ("ece", "ece", False), ("balanced_accuracy", "balanced_accuracy", True),
                                   ("accuracy_norm", "accuracy_norm", True)]:
        metric = get(name)
        assert metric.family == "probability" and metric.headline == headline
        assert metric.higher_is_better is higher and metric.kind == "label" and not metric.heavy
    assert get("auroc").extra_inputs() == ("probabilities",)
    assert get("accuracy_norm").extra_inputs() == ("normalised_probabilities",)
    assert get("balanced_accuracy").extra_inputs() == ()  # generate mode has it too
