"""Uncertainty on every number: 95 % percentile-bootstrap intervals of metric outputs, and paired tests.

A leaderboard number from 28 items is ±0.18 wide; without the interval a reader cannot tell a fine-tune that
is better from one that got lucky. Resampling repeats the metric on resampled items (predictions, references
and every extra input the metric takes, e.g. probabilities or keywords), so pooled metrics (F1, MCC, corpus
BLEU, RMSE) get honest intervals, not the mean of something else. Three ways, cheapest first:

- a vectorised twin (FAST) of the pooled metrics: classification, regression, corpus BLEU, AUROC, AUPRC, ECE and
  balanced accuracy (the tests check each against its metric on random resamples);
- the mean (or sum) of per-item values, for metrics that are one, checked on a few resamples first;
- the metric itself on every resample, if that fits in GENERIC_BUDGET_S.

Heavy metrics (a model scores them) are never rerun: only their stored per-item scores are resampled. Every
output without an interval gets a sentence saying why. Paired tests compare two rows on the same items:
McNemar's exact test for per-item right/wrong metrics, a paired bootstrap for the rest.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Callable

from errors import UserError

LEVEL = 0.95
RESAMPLES = 1000
SEED = 0
ALPHA = 0.05  # the significance level the compare view speaks of
GENERIC_BUDGET_S = 15.0  # the most one metric may spend recomputed on every resample
HEAVY_TOLERANCE = 1e-4  # a heavy metric's per-item scores must average to its value within this (relative)
MIN_DEFINED = 0.95  # share of resamples on which a metric must be defined for its interval to mean anything
METHOD = f"{LEVEL * 100:.0f} % percentile bootstrap, {RESAMPLES:,} resamples of the items"


class IntervalError(UserError, ValueError):
    """A resampling request that cannot be met (no items, a level outside 0-1); the message says which."""


@dataclass
class Scored:
    """One metric on the items it scored: everything resampling recomputes it from."""

    metric: object  # evaluation.metrics.Metric
    predictions: list
    references: list
    inputs: dict  # extra input name -> one value per item
    options: dict
    values: dict  # its outputs on all these items (the point estimates)
    chosen: list[int] = field(default_factory=list)  # positions of these items in the variant's item list
    item_scores: list | None = None  # the headline's per-item scores (metric.item_fn), when it has them
    parser: str = ""  # the answer parser its predictions came from
    where: dict = field(default_factory=dict)  # the benchmark's filter for its items


# -- resampling --------------------------------------------------------------------------------------------------
def indices(n: int, resamples: int = RESAMPLES, seed: int = SEED):
    """A (resamples × n) matrix of item positions drawn with replacement; the same seed gives the same draws."""
    import numpy as np

    if n < 1:
        raise IntervalError("There are no items to resample.")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def percentile(samples, level: float = LEVEL) -> tuple[float, float] | None:
    """The percentile interval of the finite samples; None when too few resamples had a value."""
    import numpy as np

    if not 0 < level < 1:
        raise IntervalError(f"The interval level must be between 0 and 1, not {level}.")
    samples = np.asarray(samples, dtype=float)
    finite = samples[np.isfinite(samples)]
    if not len(finite) or len(finite) < MIN_DEFINED * len(samples):
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _array(values):
    import numpy as np

    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def _close(a, b) -> bool:
    return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _aggregate(per_item, idx, how: str):
    """Mean (ignoring items without a value) or sum of per-item values on each resample."""
    import numpy as np

    picked = per_item[idx]
    if how == "sum":
        return np.nansum(picked, axis=1)
    defined = np.isfinite(picked)
    counts = defined.sum(axis=1)
    sums = np.where(defined, picked, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _pick(scored: Scored, rows) -> tuple[list, list, dict]:
    preds = [scored.predictions[i] for i in rows]
    refs = [scored.references[i] for i in rows]
    return preds, refs, {k: [v[i] for i in rows] for k, v in scored.inputs.items()}


def _call(scored: Scored, rows) -> dict:
    """The metric on some of its items; {} when it is undefined there (one class only, no keywords …)."""
    from evaluation.metrics import MetricError

    preds, refs, inputs = _pick(scored, rows)
    try:
        return scored.metric.fn(preds, refs, **inputs, **scored.options) or {}
    except (MetricError, ValueError, ZeroDivisionError, ArithmeticError, TypeError, IndexError):
        return {}


def resampled(scored: Scored, idx, budget_s: float = GENERIC_BUDGET_S) -> tuple[dict, dict]:
    """Each output's value on every resample (a row of `idx`), and a sentence for each output that has none."""
    metric = scored.metric
    wanted = [o for o in metric.outputs if scored.values.get(o) is not None]
    reasons = {o: f"{o} has no value on these items, so it has no interval" for o in metric.outputs
               if o not in wanted}
    out: dict = {}
    if metric.heavy:
        head = metric.headline
        # a model scored items one by one and in batches agrees to float noise only
        if head in wanted and scored.item_scores is not None and _item_mean(scored.item_scores, scored.values[head],
                                                                            HEAVY_TOLERANCE):
            out[head] = _aggregate(_array(scored.item_scores), idx, "mean")
        rerun = f"{metric.name} runs a model, and resampling it would run the model {len(idx):,} times again"
        for o in wanted:
            if o in out:
                continue
            if o == head and scored.item_scores is not None:
                reasons[o] = f"{rerun}; its per-item scores do not average to {o}"
            elif scored.item_scores is not None:
                reasons[o] = f"{rerun}; only {head} keeps per-item scores"
            else:
                reasons[o] = f"{rerun}; it keeps no per-item scores"
        return out, reasons
    fast = FAST.get(metric.name)
    if fast is not None:
        out.update({o: s for o, s in fast(scored, idx).items() if o in wanted})
    rest = [o for o in wanted if o not in out]
    if rest:
        for o, (how, per_item) in _decomposed(scored, rest).items():
            out[o] = _aggregate(per_item, idx, how)
        rest = [o for o in rest if o not in out]
    if rest:
        found, projected = _recomputed(scored, idx, rest, budget_s)
        if found is None:
            for o in rest:
                reasons[o] = (f"recomputing {metric.name} on {len(idx):,} resamples would take about "
                              f"{projected:.0f} s, so {o} has no interval")
        else:
            out.update(found)
    return out, reasons


def _item_mean(item_scores, value, tolerance: float = 1e-9) -> bool:
    """Whether the metric is the mean of its per-item scores (items without a score left out)."""
    import numpy as np

    per_item = _array(item_scores)
    return (bool(np.isfinite(per_item).any()) and value is not None
            and math.isclose(float(np.nanmean(per_item)), float(value), rel_tol=tolerance, abs_tol=tolerance))


def _decomposed(scored: Scored, outputs: list[str], checks: int = 3) -> dict:
    """Outputs that are the mean or the sum of the metric on single items, with those per-item values.

    Checked on the full set and on a few resamples, so a pooled metric that happens to equal the mean once
    is never taken for one."""
    import numpy as np

    n = len(scored.predictions)
    if n < 2:
        return {}
    start, singles = time.perf_counter(), []
    for i in range(n):
        singles.append(_call(scored, [i]))
        if i == 4 and (time.perf_counter() - start) / 5 * n > GENERIC_BUDGET_S:
            return {}
    found = {}
    for o in outputs:
        per_item = _array(s.get(o) for s in singles)
        if not np.isfinite(per_item).any():
            continue
        if _close(float(np.nanmean(per_item)), scored.values[o]):
            found[o] = ("mean", per_item)
        elif np.isfinite(per_item).all() and _close(float(per_item.sum()), scored.values[o]):
            found[o] = ("sum", per_item)
    rng = np.random.default_rng(SEED + 1)
    for _ in range(checks):
        if not found:
            break
        rows = rng.integers(0, n, size=min(n, 30))  # a mean is the mean on any subset: a small one is as telling
        value = _call(scored, rows)
        for o, (how, per_item) in list(found.items()):
            expected = _aggregate(per_item, rows[None, :], how)[0]
            got = value.get(o)
            if (got is None) != (not math.isfinite(expected)) or (got is not None and not _close(got, expected)):
                del found[o]
    return found


def _recomputed(scored: Scored, idx, outputs: list[str], budget_s: float) -> tuple[dict | None, float]:
    """The metric itself on every resample; None (and the projected seconds) when that would take too long."""
    import numpy as np

    samples = {o: np.full(len(idx), np.nan) for o in outputs}
    start = time.perf_counter()
    for b, rows in enumerate(idx):
        result = _call(scored, rows)
        for o in outputs:
            value = result.get(o)
            samples[o][b] = np.nan if value is None else float(value)
        if b == 9:
            projected = (time.perf_counter() - start) / 10 * len(idx)
            if projected > budget_s:
                return None, projected
    return samples, time.perf_counter() - start


# -- vectorised pooled metrics (each must equal its metric exactly; tests check them on random resamples) ----------
def _counts(codes, idx, size: int):
    """Per resample, how often each code occurs: a (resamples × size) matrix."""
    import numpy as np

    picked = codes[idx] + (np.arange(len(idx)) * size)[:, None]
    return np.bincount(picked.ravel(), minlength=len(idx) * size).reshape(len(idx), size)


def _classification(scored: Scored, idx) -> dict:
    """classification's outputs from confusion matrices counted per resample (as scikit-learn computes them)."""
    import numpy as np

    from evaluation.metrics import MetricError
    from evaluation.metrics.classification import _canonical

    options = scored.options
    labels = list(options["labels"]) if options.get("labels") else sorted({str(r).strip()
                                                                           for r in scored.references})
    k = len(labels)
    gold = [_canonical(r, labels) for r in scored.references]
    if any(g is None for g in gold):
        raise MetricError("classification: a reference is not one of the labels")
    position = {label: i for i, label in enumerate(labels)}
    g = np.array([position[x] for x in gold])
    q = np.array([position.get(_canonical(p, labels), k) for p in scored.predictions])  # k: unparseable
    size = k + 1
    c = _counts(g * size + q, idx, size * size).reshape(len(idx), size, size).astype(float)
    n = idx.shape[1]
    tp = np.stack([c[:, j, j] for j in range(k)], axis=1)
    predicted = c.sum(axis=1)[:, :k]
    true = c.sum(axis=2)[:, :k]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(true > 0, tp / np.maximum(true, 1), 0.0)
        f1 = np.where(predicted + true > 0, 2 * tp / np.maximum(predicted + true, 1), 0.0)
    if k == 2:
        positive = _canonical(options.get("positive"), labels) if options.get("positive") is not None else labels[0]
        chosen = [position[positive]]
    else:
        chosen = list(range(k))
    t_sum, p_sum = c.sum(axis=2), c.sum(axis=1)
    correct = tp.sum(axis=1)
    cov_tp = correct * n - (t_sum * p_sum).sum(axis=1)
    cov_pp = n * n - (p_sum * p_sum).sum(axis=1)
    cov_tt = n * n - (t_sum * t_sum).sum(axis=1)
    denominator = cov_pp * cov_tt
    with np.errstate(invalid="ignore", divide="ignore"):
        mcc = np.where(denominator > 0, cov_tp / np.sqrt(np.where(denominator > 0, denominator, 1)), 0.0)
    return {"accuracy": correct / n, "precision": precision[:, chosen].mean(axis=1),
            "recall": recall[:, chosen].mean(axis=1), "f1": f1[:, chosen].mean(axis=1), "mcc": mcc,
            "unparseable": c[:, :, k].sum(axis=1)}


def _regression(scored: Scored, idx) -> dict:
    """RMSE, MAE and R² over the resampled items that have a number (as the regression metric does)."""
    import numpy as np

    from evaluation.metrics.regression import _reference, parse_number

    gold = np.array([_reference(r, i) for i, r in enumerate(scored.references)], dtype=float)
    guess = _array(parse_number(p) for p in scored.predictions)
    has = np.isfinite(guess)
    m = has[idx].astype(float)
    err = np.where(has, guess - gold, 0.0)[idx]
    g = gold[idx]
    count = m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.maximum(count, 1)
        rmse = np.where(count > 0, np.sqrt((m * err ** 2).sum(axis=1) / safe), np.nan)
        mae = np.where(count > 0, (m * np.abs(err)).sum(axis=1) / safe, np.nan)
        mean_gold = (m * g).sum(axis=1) / safe
        residual = (m * err ** 2).sum(axis=1)
        total = (m * (g - mean_gold[:, None]) ** 2).sum(axis=1)
        r2 = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1), np.where(residual == 0, 1.0, 0.0))
    r2 = np.where(count > 1, r2, np.nan)
    return {"rmse": rmse, "mae": mae, "r2": r2, "unparsed_numbers": idx.shape[1] - count}


def _bleu(scored: Scored, idx) -> dict:
    """Corpus BLEU from per-answer n-gram counts summed per resample (sacrebleu's own paired-bootstrap way)."""
    import numpy as np
    from sacrebleu.metrics import BLEU

    scorer = BLEU()
    stats = np.array(scorer._extract_corpus_statistics(list(scored.predictions), [list(scored.references)]))
    sums = stats[idx].sum(axis=1)
    return {"bleu": np.array([scorer._compute_score_from_stats(list(map(int, row))).score for row in sums])}


def _probabilities(name: str, scored: Scored):
    """(labels, gold index per item, items × labels matrix, positive index) as the probability metrics read them."""
    from evaluation.metrics.probability import _matrix, _positive

    labels, gold, matrix = _matrix(name, scored.references, scored.inputs["probabilities"], scored.options.get("labels"))
    return labels, gold, matrix, _positive(name, labels, scored.options.get("positive"))


def _one_vs_rest(fn, gold, matrix, positive: int, idx):
    """Binary: `fn` of the positive class; more labels: the mean over the classes where it is defined."""
    import numpy as np

    if matrix.shape[1] == 2:
        return fn(gold == positive, matrix[:, positive], idx)
    per_class = np.stack([fn(gold == c, matrix[:, c], idx) for c in range(matrix.shape[1])], axis=1)
    defined = np.isfinite(per_class)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined.any(axis=1), np.where(defined, per_class, 0).sum(axis=1) / defined.sum(axis=1),
                        np.nan)


def _ranked_counts(y, scores, idx, descending: bool):
    """Per resample, the positives and negatives at each distinct score (ascending or descending)."""
    import numpy as np

    unique, inverse = np.unique(scores, return_inverse=True)
    if descending:
        inverse = len(unique) - 1 - inverse
    counts = _counts(inverse * 2 + y.astype(int), idx, 2 * len(unique)).reshape(len(idx), len(unique), 2)
    return counts[:, :, 1].astype(float), counts[:, :, 0].astype(float)


def _auroc_binary(y, scores, idx):
    """The chance a positive outscores a negative (ties half), weighted by how often each item was drawn."""
    import numpy as np

    pos, neg = _ranked_counts(y, scores, idx, descending=False)
    below = np.cumsum(neg, axis=1) - neg
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), (pos * (below + neg / 2)).sum(axis=1) / (n_pos * n_neg), np.nan)


def _auprc_binary(y, scores, idx):
    """Average precision: precision at each distinct threshold, weighted by the recall it adds."""
    import numpy as np

    pos, neg = _ranked_counts(y, scores, idx, descending=True)
    tps, fps = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    total = tps[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tps + fps > 0, tps / np.maximum(tps + fps, 1), 0.0)
        recall = np.where(total > 0, tps / np.maximum(total, 1), 0.0)
    gained = np.diff(np.concatenate([np.zeros((len(idx), 1)), recall], axis=1), axis=1)
    return np.where(total[:, 0] > 0, (gained * precision).sum(axis=1), np.nan)


def _auroc(scored: Scored, idx) -> dict:
    _, gold, matrix, positive = _probabilities("auroc", scored)
    return {"auroc": _one_vs_rest(_auroc_binary, gold, matrix, positive, idx)}


def _auprc(scored: Scored, idx) -> dict:
    _, gold, matrix, positive = _probabilities("auprc", scored)
    return {"auprc": _one_vs_rest(_auprc_binary, gold, matrix, positive, idx)}


def _ece(scored: Scored, idx) -> dict:
    """Σ over bins of |right − confidence| summed with each item's draw count, over the items drawn."""
    import numpy as np

    from evaluation.metrics.probability import ECE_BINS

    _, gold, matrix, _ = _probabilities("ece", scored)
    confidence = matrix.max(axis=1)
    right = (matrix.argmax(axis=1) == gold).astype(float)
    bins = np.searchsorted(np.linspace(0, 1, ECE_BINS + 1)[1:-1], confidence, side="left")
    n = len(confidence)
    drawn = _counts(np.arange(n), idx, n).astype(float)  # resamples × items: how often each item was drawn
    in_bin = np.zeros((n, ECE_BINS))
    in_bin[np.arange(n), bins] = 1.0
    gap = drawn @ (in_bin * (right - confidence)[:, None])
    return {"ece": np.abs(gap).sum(axis=1) / idx.shape[1]}


def _balanced_accuracy(scored: Scored, idx) -> dict:
    """The mean recall of the classes present in each resample."""
    import numpy as np

    from evaluation.metrics import MetricError

    labels = list(scored.options["labels"]) if scored.options.get("labels") else sorted(
        {str(r).strip() for r in scored.references})
    gold = [_label_index(r, labels) for r in scored.references]
    if None in gold:
        raise MetricError("balanced_accuracy: a reference is not one of the labels")
    gold = np.array(gold)
    right = np.array([_label_index(p, labels) == g for p, g in zip(scored.predictions, gold)], dtype=int)
    counts = _counts(gold * 2 + right, idx, 2 * len(labels)).reshape(len(idx), len(labels), 2).astype(float)
    present = counts.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present > 0, counts[:, :, 1] / np.maximum(present, 1), 0.0)
    return {"balanced_accuracy": recall.sum(axis=1) / (present > 0).sum(axis=1)}


def _label_index(value, labels: list[str]) -> int | None:
    lowered = str(value).strip().lower() if value is not None else None
    return next((i for i, label in enumerate(labels) if label.lower() == lowered), None)


FAST: dict[str, Callable] = {"classification": _classification, "regression": _regression, "bleu": _bleu,
                             "auroc": _auroc, "auprc": _auprc, "ece": _ece, "balanced_accuracy": _balanced_accuracy}


# -- one variant's intervals (the runner calls this) -----------------------------------------------------------
def derived_samples(metric, samples: dict, resamples: int) -> dict:
    """A derived metric's outputs on every resample from its sources' resampled values (cheap: a formula)."""
    import numpy as np

    out = {o: np.full(resamples, np.nan) for o in metric.outputs}
    for b in range(resamples):
        try:
            result = metric.fn([], [], scores={o: float(s[b]) if math.isfinite(s[b]) else None
                                               for o, s in samples.items()})
        except (ValueError, ZeroDivisionError, ArithmeticError):
            continue
        for o in out:
            value = result.get(o)
            out[o][b] = np.nan if value is None else float(value)
    return out


def for_variant(scored: list[Scored], n_items: int, derived: list, values: dict, seed: int = SEED,
                resamples: int = RESAMPLES) -> dict:
    """details["intervals"] ({output: [low, high]}), details["no_interval"] ({output: why}) and the method."""
    start = time.perf_counter()
    intervals: dict[str, list[float]] = {}
    reasons: dict[str, str] = {}
    full: dict = {}  # samples of outputs scored on every item, on the shared draws (derived metrics use them)
    draws: dict[int, object] = {}
    for s in scored:
        n = len(s.predictions)
        if n not in draws:
            draws[n] = indices(n, resamples, seed)
        try:
            samples, why = resampled(s, draws[n])
        except Exception as exc:  # noqa: BLE001 - a failed interval must not cost the scores; the reason says it
            samples, why = {}, {o: f"resampling {s.metric.name} failed ({type(exc).__name__}: {exc})"
                                for o in s.metric.outputs}
        reasons.update(why)
        for o, sample in samples.items():
            interval = percentile(sample)
            if interval is None:
                reasons[o] = f"{o} is undefined on too many resamples of these {n} items to give an interval"
            else:
                intervals[o] = list(interval)
            if n == n_items:
                full[o] = sample
    for metric in derived:
        missing = [src for src in metric.derived_from
                   if not any(o in full for o in _outputs_of(src))]
        for o in metric.outputs:
            if values.get(o) is None:
                continue
            if missing:
                reasons[o] = f"{o} combines {', '.join(missing)}, which has no interval, so it has none either"
                continue
            interval = percentile(derived_samples(metric, full, resamples)[o])
            if interval is None:
                reasons[o] = f"{o} is undefined on too many resamples to give an interval"
            else:
                intervals[o] = list(interval)
    return {"intervals": intervals, "no_interval": reasons,
            "interval_method": {"method": METHOD, "level": LEVEL, "resamples": resamples, "seed": seed,
                                "seconds": round(time.perf_counter() - start, 3)}}


def _outputs_of(name: str) -> list[str]:
    from evaluation import metrics

    return list(metrics.get(name).outputs)


# -- per-item data kept in predictions.jsonl, so a later compare can pair items and recompute -----------------------
def keep_for_pairing(per_item: list[dict], items: list, scored: list[Scored], main_parser: str) -> None:
    """Add to each item's row what its metrics read beyond its parsed answer and reference: extra inputs, the
    answer under another parser, the meta fields a metric's `where` filters on."""
    for s in scored:
        for position, i in enumerate(s.chosen):
            row = per_item[i]
            for key, values in s.inputs.items():
                row.setdefault("inputs", {})[key] = plain(values[position])
            if s.parser != main_parser:
                row.setdefault("parsed_as", {})[s.parser] = plain(s.predictions[position])
        for key in s.where:
            for row, item in zip(per_item, items):
                row.setdefault("meta", {})[key] = plain(item.meta.get(key))


def scoring_record(scored: list[Scored], main_parser: str) -> dict:
    """How the variant was scored (for details["scoring"]): enough to recompute each metric from its rows."""
    return {"parser": main_parser,
            "metrics": [{"metric": s.metric.name, "parser": s.parser, "where": plain(s.where),
                         "options": plain(s.options)} for s in scored]}


def items_digest(items: list) -> str:
    """The items' ids, references and meta: two rows with one digest scored the same items (whatever prompt)."""
    blob = json.dumps([[it.id, it.reference, it.meta] for it in items], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def plain(value):
    """JSON-ready: numpy arrays and scalars become lists and numbers."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy array or scalar
        return value.tolist()
    return value


# -- paired tests -------------------------------------------------------------------------------------------------
@dataclass
class PairedTest:
    """One metric compared on shared items: the delta (b − a), its interval and p-value, and which test."""

    output: str
    delta: float | None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    test: str = ""
    reason: str = ""  # why there is no test

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA


def mcnemar(a_correct, b_correct) -> tuple[float, int, int]:
    """McNemar's exact test: the two-sided binomial test of the discordant pairs (p, a-only right, b-only right)."""
    from scipy.stats import binomtest

    a_only = sum(1 for a, b in zip(a_correct, b_correct) if a and not b)
    b_only = sum(1 for a, b in zip(a_correct, b_correct) if b and not a)
    if a_only + b_only == 0:
        return 1.0, 0, 0
    return float(binomtest(b_only, a_only + b_only, 0.5).pvalue), a_only, b_only


def bootstrap_p(deltas) -> float | None:
    """Two-sided p-value of 'no difference' from resampled deltas: twice the smaller tail beyond zero."""
    import numpy as np

    deltas = np.asarray(deltas, dtype=float)
    deltas = deltas[np.isfinite(deltas)]
    if not len(deltas):
        return None
    below, above = int((deltas <= 0).sum()), int((deltas >= 0).sum())
    return float(min(1.0, 2 * (min(below, above) + 1) / (len(deltas) + 1)))


def _binary(scores) -> bool:
    return scores is not None and all(s in (0, 1, 0.0, 1.0, True, False) for s in scores)


def paired(a: list[Scored], b: list[Scored], values_a: dict, values_b: dict, outputs: list[str],
           seed: int = SEED, resamples: int = RESAMPLES) -> dict[str, PairedTest]:
    """Each output tested on the shared items (a[i] and b[i] are one metric on the same items, in one order).

    Accuracy-type outputs (the mean of per-item right/wrong) get McNemar's exact test; every other output a
    paired bootstrap: both rows recomputed on the same resampled items, the interval and p-value of b − a."""
    pairs = {id(sa): (sa, sb) for sa in a
             for sb in [next((s for s in b if s.metric.name == sa.metric.name and s.chosen == sa.chosen), None)]
             if sb is not None}
    n_items = max((len(s.predictions) for s in a), default=0)
    draws: dict[int, object] = {}
    full_a, full_b = {}, {}
    results: dict[str, PairedTest] = {}
    for sa, sb in pairs.values():
        n = len(sa.predictions)
        if n not in draws:
            draws[n] = indices(n, resamples, seed)
        try:
            (got_a, why_a), (got_b, why_b) = resampled(sa, draws[n]), resampled(sb, draws[n])
        except Exception as exc:  # noqa: BLE001 - one metric that cannot be resampled must not hide the others
            got_a = got_b = {}
            why_a = why_b = {o: f"resampling {sa.metric.name} failed ({type(exc).__name__}: {exc})"
                             for o in sa.metric.outputs}
        if n == n_items:
            full_a.update(got_a)
            full_b.update(got_b)
        for o in sa.metric.outputs:
            if o not in outputs:
                continue
            delta = _delta(values_a.get(o), values_b.get(o))
            if o not in got_a or o not in got_b:
                results[o] = PairedTest(o, delta, reason=why_a.get(o) or why_b.get(o) or f"{o} cannot be resampled")
                continue
            results[o] = _tested(o, delta, got_b[o] - got_a[o])
            if (o == sa.metric.headline and _binary(sa.item_scores) and _binary(sb.item_scores)
                    and _item_mean(sa.item_scores, values_a.get(o)) and _item_mean(sb.item_scores, values_b.get(o))):
                results[o].p_value, _, _ = mcnemar(sa.item_scores, sb.item_scores)
                results[o].test = "McNemar exact"
    for o in outputs:
        if o not in results:
            found = _derived_pair(o, values_a, values_b, full_a, full_b, resamples)
            if found is not None:
                results[o] = found
    return results


def _tested(output: str, delta, deltas) -> PairedTest:
    interval = percentile(deltas)
    if interval is None:
        return PairedTest(output, delta, reason=f"{output} is undefined on too many resamples to test")
    return PairedTest(output, delta, *interval, bootstrap_p(deltas), "paired bootstrap")


def _derived_pair(output, values_a, values_b, full_a, full_b, resamples) -> PairedTest | None:
    """A derived output (e.g. a harmonic mean of two metrics) from its sources' paired resamples."""
    from evaluation import metrics

    metric = next((m for m in metrics.all_metrics().values() if output in m.outputs and m.derived_from), None)
    if metric is None:
        return None
    delta = _delta(values_a.get(output), values_b.get(output))
    missing = [src for src in metric.derived_from if not any(o in full_a and o in full_b for o in _outputs_of(src))]
    if missing:
        return PairedTest(output, delta, reason=f"{output} combines {', '.join(missing)}, which cannot be resampled")
    deltas = derived_samples(metric, full_b, resamples)[output] - derived_samples(metric, full_a, resamples)[output]
    return _tested(output, delta, deltas)


def _delta(a, b) -> float | None:
    return None if a is None or b is None else float(b) - float(a)
