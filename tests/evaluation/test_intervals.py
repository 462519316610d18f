"""Uncertainty: bootstrap intervals on every leaderboard number, McNemar and paired-bootstrap compares.

Fast vectorised paths are checked against the metrics themselves on random resamples; the end-to-end tests run
dummy models on tiny benchmarks written to tmp_path (prompts end in "Expected: <answer>", so dummy:oracle says
exactly what each test wants).
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from evaluation import benchmark as benchmarks, intervals, leaderboard, metrics, runner
from evaluation.runner import Options, evaluate

LABELS = ["interaction", "no interaction"]


def scored(name: str, preds: list, refs: list, options: dict | None = None, inputs: dict | None = None,
           item_scores=None) -> intervals.Scored:
    metric = metrics.get(name)
    options, inputs = options or {}, inputs or {}
    values = {k: v for k, v in metric.fn(preds, refs, **inputs, **options).items() if k in metric.outputs}
    return intervals.Scored(metric, preds, refs, inputs, options, values, list(range(len(preds))), item_scores)


def labels_case(n: int, accuracy: float, seed: int = 1, unparseable: float = 0.1):
    rng = random.Random(seed)
    refs = [rng.choice(LABELS) for _ in range(n)]
    preds = []
    for r in refs:
        roll = rng.random()
        preds.append(None if roll < unparseable else r if roll < unparseable + accuracy else
                     LABELS[1 - LABELS.index(r)])
    return preds, refs


# -- McNemar ------------------------------------------------------------------------------------------------------
def test_mcnemar_is_scipys_exact_binomial_test_of_the_discordant_pairs():
    from scipy.stats import binomtest

    a = [1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1]
    b = [1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0]
    a_only = sum(x and not y for x, y in zip(a, b))  # 3
    b_only = sum(y and not x for x, y in zip(a, b))  # 5
    p, got_a, got_b = intervals.mcnemar(a, b)
    assert (got_a, got_b) == (a_only, b_only) == (3, 5)
    assert p == pytest.approx(binomtest(b_only, a_only + b_only, 0.5).pvalue, abs=1e-15)
    assert intervals.mcnemar(b, a)[0] == pytest.approx(p)  # two-sided: symmetric


def test_mcnemar_textbook_values():
    # 1 pair where only A is right, 9 where only B is: p = 2·(C(10,0) + C(10,1)) / 2^10 = 22/1024
    a = [1] + [0] * 9 + [1] * 20
    b = [0] + [1] * 9 + [1] * 20
    assert intervals.mcnemar(a, b)[0] == pytest.approx(22 / 1024, abs=1e-12)
    # 2 vs 8: 2·(1 + 10 + 45)/1024
    a, b = [1, 1] + [0] * 8, [0, 0] + [1] * 8
    assert intervals.mcnemar(a, b)[0] == pytest.approx(112 / 1024, abs=1e-12)
    assert intervals.mcnemar([1, 0, 1], [1, 0, 1])[0] == 1.0  # no discordant pair: no evidence at all


# -- the bootstrap interval -------------------------------------------------------------------------------------------
def test_an_interval_is_reproducible_with_its_seed_and_changes_with_another():
    preds, refs = labels_case(60, 0.6)
    case = scored("classification", preds, refs, {"labels": LABELS})
    first = intervals.for_variant([case], 60, [], case.values, seed=0)["intervals"]
    again = intervals.for_variant([case], 60, [], case.values, seed=0)["intervals"]
    other = intervals.for_variant([case], 60, [], case.values, seed=7)["intervals"]
    assert first == again
    assert set(first) == set(metrics.get("classification").outputs)
    assert first != other and first["accuracy"] != other["accuracy"]


def test_an_interval_holds_its_estimate_and_shrinks_with_more_items():
    widths = []
    for n in (40, 400, 4000):
        preds, refs = labels_case(n, 0.7, seed=n)
        case = scored("classification", preds, refs, {"labels": LABELS})
        found = intervals.for_variant([case], n, [], case.values)["intervals"]
        for output in ("accuracy", "f1", "mcc", "unparseable"):
            low, high = found[output]
            assert low <= case.values[output] <= high, output
        widths.append(found["accuracy"][1] - found["accuracy"][0])
    assert widths[0] > widths[1] > widths[2]
    # a proportion's 95 % interval is about ±1.96·sqrt(p(1-p)/n): ±0.14 for 40 items at 0.7
    assert widths[0] / 2 == pytest.approx(1.96 * (0.7 * 0.3 / 40) ** 0.5, rel=0.35)


def test_indices_are_seeded_draws_with_replacement():
    import numpy as np

    idx = intervals.indices(10, 1000, seed=3)
    assert idx.shape == (1000, 10) and idx.min() == 0 and idx.max() == 9
    assert np.array_equal(idx, intervals.indices(10, 1000, seed=3))
    with pytest.raises(intervals.IntervalError, match="no items"):
        intervals.indices(0)


def probability_case(labels: list[str], seed: int, **options):
    """Answers with a probability per label (ties included: they are rounded), as choice mode gives them."""
    rng = random.Random(seed)
    refs = [rng.choice(labels) for _ in range(40)]
    probabilities = []
    for r in refs:
        raw = [round(rng.random(), 1) + (0.3 if label == r else 0.0) for label in labels]
        probabilities.append({label: v / sum(raw) for label, v in zip(labels, raw)})
    preds = [max(p, key=p.get) if rng.random() > 0.1 else None for p in probabilities]
    return preds, refs, {"labels": labels, **options}, {"probabilities": probabilities}


SEVERITY = ["danger", "warning", "caution"]


@pytest.mark.parametrize("name, case", [
    ("classification", lambda: (*labels_case(40, 0.5, seed=2), {"labels": LABELS}, {})),
    ("classification", lambda: (*labels_case(40, 0.5, seed=3), {"labels": LABELS, "positive": "no interaction"}, {})),
    ("classification", lambda: ([random.Random(i).choice(["danger", "warning", None]) for i in range(30)],
                                [random.Random(i * 7).choice(SEVERITY) for i in range(30)], {"labels": SEVERITY}, {})),
    ("regression", lambda: ([None if i % 5 == 0 else f"about {i * 0.7 - 3:.2f}" for i in range(30)],
                            [i * 0.65 - 2.5 for i in range(30)], {}, {})),
    ("bleu", lambda: (["warfarin inhibits the vitamin K epoxide reductase", "aspirin is a drug", "metformin"] * 5,
                      ["warfarin inhibits vitamin K epoxide reductase", "aspirin is an NSAID", "metformin lowers"] * 5,
                      {}, {})),
    *[(name, lambda labels=labels, seed=seed: probability_case(labels, seed))
      for name in ("auroc", "auprc", "ece", "balanced_accuracy") for labels in (LABELS, SEVERITY) for seed in (1, 2)],
    ("auroc", lambda: probability_case(LABELS, 3, positive="no interaction")),
    ("auprc", lambda: probability_case(LABELS, 4, positive="no interaction")),
])
def test_vectorised_paths_equal_the_metric_on_every_resample(name, case):
    preds, refs, options, inputs = case()
    metric = metrics.get(name)
    inputs = {k: v for k, v in inputs.items() if k in metric.extra_inputs()}
    options = {k: v for k, v in options.items() if k in metric.options}
    found = scored(name, preds, refs, options, inputs)
    idx = intervals.indices(len(preds), 40, seed=5)
    fast = intervals.FAST[name](found, idx)
    assert set(fast) == set(metric.outputs)
    for b, rows in enumerate(idx):
        picked = {k: [v[i] for i in rows] for k, v in inputs.items()}
        expected = metric.fn([preds[i] for i in rows], [refs[i] for i in rows], **picked, **options)
        for output, samples in fast.items():
            if expected[output] is None:
                assert samples[b] != samples[b], output  # NaN: undefined on this resample
            else:
                assert samples[b] == pytest.approx(expected[output], abs=1e-9), (output, b)


def test_mean_metrics_are_resampled_from_per_item_values_and_pooled_ones_are_not():
    preds = ["warfarin inhibits CYP2C9", "aspirin", "", "metformin lowers glucose", "statins cause myopathy"] * 4
    refs = ["warfarin inhibits vitamin K", "aspirin inhibits COX", "ibuprofen", "metformin", "myopathy"] * 4
    case = scored("token_f1", preds, refs)
    assert set(intervals._decomposed(case, ["token_f1"])) == {"token_f1"}
    idx = intervals.indices(len(preds), 200)
    by_items, _ = intervals.resampled(case, idx)
    recomputed, _ = intervals._recomputed(case, idx, ["token_f1"], budget_s=60)
    assert by_items["token_f1"] == pytest.approx(recomputed["token_f1"])
    # validity pools SMILES over answers: never the mean of per-answer rates, though its count is a sum
    smiles = scored("smiles_validity", [["CCO", "C1CC"], ["c1ccccc1"], [], ["CC", "XX", "N"]] * 3, ["CCO"] * 12)
    assert intervals._decomposed(smiles, ["smiles_validity", "smiles_found"]) .keys() == {"smiles_found"}
    samples, reasons = intervals.resampled(smiles, intervals.indices(12, 100))
    assert set(samples) == {"smiles_validity", "smiles_found"} and not reasons


def test_extra_inputs_are_resampled_with_their_items():
    preds = ["headache and rash", "nothing", "QT prolongation", "rash"] * 5
    keywords = [["headache", "rash"], ["nausea"], ["QT prolongation", "rash"], None] * 5
    case = scored("keyword_recall", preds, [""] * 20, inputs={"keywords": keywords})
    found = intervals.for_variant([case], 20, [], case.values)
    low, high = found["intervals"]["keyword_recall"]
    assert low <= case.values["keyword_recall"] <= high and low < high


def test_a_heavy_metric_is_never_rerun(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a heavy metric ran again")

    heavy = metrics.Metric("fake_heavy", refuse, "a model-scored metric", {"fake_f1": True, "fake_p": True},
                           heavy=True, item_fn=refuse)
    per_item = [0.2, 0.9, 0.4, 0.7, 0.5, 0.8]
    case = intervals.Scored(heavy, ["x"] * 6, ["y"] * 6, {}, {}, {"fake_f1": sum(per_item) / 6, "fake_p": 0.5},
                            list(range(6)), per_item)
    found = intervals.for_variant([case], 6, [], case.values)
    assert "fake_f1" in found["intervals"]
    assert "runs a model" in found["no_interval"]["fake_p"] and "only fake_f1" in found["no_interval"]["fake_p"]
    no_scores = intervals.Scored(heavy, ["x"] * 6, ["y"] * 6, {}, {}, {"fake_f1": 0.5, "fake_p": 0.5},
                                 list(range(6)), None)
    reasons = intervals.for_variant([no_scores], 6, [], no_scores.values)["no_interval"]
    assert set(reasons) == {"fake_f1", "fake_p"} and "keeps no per-item scores" in reasons["fake_f1"]


def test_a_derived_metric_gets_an_interval_only_from_resampled_sources():
    hmean = metrics.get("questeval_f1_hmean")
    preds, refs = ["warfarin inhibits CYP2C9", "aspirin inhibits COX"] * 5, ["warfarin inhibits", "aspirin"] * 5
    f1 = scored("token_f1", preds, refs)
    values = {**f1.values, "questeval": 0.5, "questeval_f1_hmean": 0.4}
    reasons = intervals.for_variant([f1], 10, [hmean], values)["no_interval"]
    assert "combines questeval" in reasons["questeval_f1_hmean"]
    # with both sources resampled, the harmonic mean is computed on every resample: a formula, cheap
    fake_qe = metrics.Metric("questeval", None, "", {"questeval": True, "questeval_precision": True,
                                                    "questeval_recall": True}, heavy=True, item_fn=len)
    per_item = [0.4, 0.6] * 5
    qe = intervals.Scored(fake_qe, preds, refs, {}, {}, {"questeval": 0.5}, list(range(10)), per_item)
    found = intervals.for_variant([f1, qe], 10, [hmean], values)["intervals"]
    low, high = found["questeval_f1_hmean"]
    assert 0 < low < high < 1


def test_a_metric_that_is_undefined_on_most_resamples_has_a_reason():
    # R² needs two scored items; with two numbers among 40 answers most resamples have fewer
    preds = ["1.0", "2.0"] + [None] * 38
    case = scored("regression", preds, [float(i) for i in range(40)])
    found = intervals.for_variant([case], 40, [], case.values)
    assert "r2" not in found["intervals"] and "too many resamples" in found["no_interval"]["r2"]


def test_percentile_and_bootstrap_p():
    import numpy as np

    assert intervals.percentile(np.arange(1001)) == pytest.approx((25.0, 975.0))
    assert intervals.percentile([np.nan] * 10 + [1.0]) is None
    assert intervals.bootstrap_p(np.zeros(999)) == 1.0  # identical rows: no difference
    assert intervals.bootstrap_p(np.ones(999)) == pytest.approx(2 / 1000)  # never ≤ 0: the smallest p there is
    with pytest.raises(intervals.IntervalError, match="between 0 and 1"):
        intervals.percentile([1.0], level=95)


@pytest.mark.parametrize("value, low, high, shown", [
    (0.6213, 0.5713, 0.6713, "0.62 ± 0.05"), (0.625, 0.445, 0.805, "0.62 ± 0.18"), (0.6234, 0.6114, 0.6354,
                                                                                    "0.623 ± 0.012"),
    (59.71, 37.35, 79.97, "60 ± 21"), (10.0, 10.0, 10.0, "10 ± 0"), (0.5, None, None, "0.5"), (None, None, None, ""),
])
def test_a_value_is_shown_with_its_half_width(value, low, high, shown):
    assert leaderboard.with_interval(value, low, high) == shown


# -- the runner ----------------------------------------------------------------------------------------------------
def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def ddi_bench(tmp_path: Path, n: int, wrong=(), name="tiny-ddi", file="pairs.jsonl", **fields) -> benchmarks.Benchmark:
    rows = []
    for i in range(n):
        label = LABELS[i % 2]
        said = LABELS[(i + 1) % 2] if i in wrong else label
        rows.append({"messages": [{"role": "user", "content": f"Do A{i} and B{i} interact? Expected: {said}"},
                                  {"role": "assistant", "content": label}],
                     "meta": {"id": f"pair-{i}", "label": label}})
    spec = {"name": name, "dataset": str(write_jsonl(tmp_path / file, rows)), "reference": "label",
            "parser": "label", "labels": LABELS, "metrics": ["classification"], **fields}
    return benchmarks.from_dict(spec, tmp_path / f"{name}.yaml")


def test_scoring_200_classification_items_gives_every_output_an_interval_in_time(tmp_path):
    bench = ddi_bench(tmp_path, 200)
    items = bench.items()
    rng = random.Random(0)
    outputs = [rng.choice([*LABELS, "I am not sure."]) for _ in items]
    start = time.perf_counter()
    values, details, per_item = runner.score(bench, items, outputs, Options())
    seconds = time.perf_counter() - start
    print(f"\n200 classification items: score with intervals {seconds:.3f} s, of which intervals "
          f"{details['interval_method']['seconds']:.3f} s")
    assert details["interval_method"]["seconds"] < 2.0  # the total includes importing scikit-learn
    assert set(details["intervals"]) == set(values) and details["no_interval"] == {}
    assert details["interval_method"]["resamples"] == 1000 and details["interval_method"]["seed"] == 0
    assert details["scoring"] == {"parser": "label", "metrics": [
        {"metric": "classification", "parser": "label", "where": {}, "options": {"labels": LABELS}}]}
    assert all(low <= values[k] <= high for k, (low, high) in details["intervals"].items())


def test_choice_mode_metrics_on_200_items_get_intervals_in_time():
    names = ["classification", "balanced_accuracy", "auroc", "auprc", "brier", "ece", "accuracy_norm"]
    rng = random.Random(0)
    refs = [rng.choice(LABELS) for _ in range(200)]
    probabilities = []
    for r in refs:
        p = min(max(rng.gauss(0.65 if r == LABELS[0] else 0.4, 0.2), 0.01), 0.99)
        probabilities.append({LABELS[0]: p, LABELS[1]: 1 - p})
    preds = [max(p, key=p.get) for p in probabilities]
    inputs = {"probabilities": probabilities, "normalised_probabilities": probabilities}
    cases = []
    for name in names:
        metric = metrics.get(name)
        own = {k: inputs[k] for k in metric.extra_inputs()}
        options = {"labels": LABELS} if "labels" in metric.options else {}
        item_scores = ([metric.item_fn(p, r, **{k: v[i] for k, v in own.items()}) for i, (p, r) in
                        enumerate(zip(preds, refs))] if metric.item_fn else None)
        cases.append(scored(name, preds, refs, options, own, item_scores))
    values = {k: v for c in cases for k, v in c.values.items()}
    start = time.perf_counter()
    found = intervals.for_variant(cases, 200, [], values)
    seconds = time.perf_counter() - start
    print(f"\n200 choice-mode items, {len(values)} outputs: intervals {seconds:.3f} s")
    assert seconds < 2.0 and set(found["intervals"]) == set(values) and found["no_interval"] == {}


def test_group_scores_compute_no_intervals(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(intervals, "for_variant", lambda *a, **k: calls.append(a) or {})
    bench = ddi_bench(tmp_path, 6, group_by="label")
    runner.score(bench, bench.items(), ["interaction"] * 6, Options())
    runner.group_scores(bench, bench.items(), ["interaction"] * 6, Options())
    assert len(calls) == 1


def test_predictions_keep_what_a_paired_compare_recomputes(tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"Q{i}? Expected: aspirin CCO causes rash"},
                          {"role": "assistant", "content": "aspirin"}],
             "meta": {"id": f"q{i}", "category": "smiles" if i % 2 else "text", "keywords": ["rash", "ulcer"]}}
            for i in range(4)]
    spec = {"name": "tiny-qa", "dataset": str(write_jsonl(tmp_path / "qa.jsonl", rows)), "parser": "text",
            "inputs": {"keywords": "keywords"},
            "metrics": ["token_f1", "keyword_recall", {"name": "smiles_validity", "parser": "smiles",
                                                      "where": {"category": "smiles"}}]}
    bench = benchmarks.from_dict(spec, tmp_path / "tiny-qa.yaml")
    (result,) = evaluate("dummy:oracle", bench, tmp_path / "out", Options())
    lines = [json.loads(line) for line in Path(result.predictions_path).read_text().splitlines()]
    assert [line["id"] for line in lines] == ["q0", "q1", "q2", "q3"]
    assert all(line["inputs"] == {"keywords": ["rash", "ulcer"]} for line in lines)
    assert [line["meta"] for line in lines] == [{"category": c} for c in ("text", "smiles") * 2]
    assert [line.get("parsed_as") for line in lines] == [None, {"smiles": ["CCO"]}, None, {"smiles": ["CCO"]}]
    assert set(result.details["intervals"]) >= {"token_f1", "keyword_recall", "smiles_validity"}
    # every answer scores token F1 0.4 against "aspirin": no spread, a zero-width interval
    assert result.summary()["intervals"]["token_f1"] == {"low": pytest.approx(0.4), "high": pytest.approx(0.4)}


# -- comparing two rows ------------------------------------------------------------------------------------------
def test_two_evaluations_land_with_intervals_and_compare_gives_a_p_value(isolated_runs, tmp_path):
    from scipy.stats import binomtest

    n = 40
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    base = evaluate("dummy:oracle", ddi_bench(tmp_path / "a", n, wrong=range(0, 40, 3)), tmp_path / "out-a", Options())
    tuned = evaluate("dummy:oracle", ddi_bench(tmp_path / "b", n, wrong=(1, 2)), tmp_path / "out-b", Options())
    (a,) = leaderboard.add(base, "eval-a")
    (b,) = leaderboard.add(tuned, "eval-b")
    # the two benchmark files differ only in what the oracle is told: same ids, references and meta
    frame = leaderboard.table("tiny-ddi", intervals=True)
    assert {"accuracy low", "accuracy high", "mode"} <= set(frame.columns)
    assert set(frame["mode"]) == {"generate"}
    row = frame.set_index("id").loc[b]
    assert row["accuracy ↑"] == 0.95 and row["accuracy low"] < 0.95 <= row["accuracy high"] <= 1.0

    pairing = leaderboard.paired(a, b)
    assert pairing.reason == "" and pairing.items == n
    accuracy = pairing.tests["accuracy"]
    a_right = [i not in range(0, 40, 3) for i in range(n)]
    b_right = [i not in (1, 2) for i in range(n)]
    a_only = sum(x and not y for x, y in zip(a_right, b_right))
    b_only = sum(y and not x for x, y in zip(a_right, b_right))
    assert accuracy.test == "McNemar exact"
    assert accuracy.p_value == pytest.approx(binomtest(b_only, a_only + b_only, 0.5).pvalue)
    assert accuracy.significant and accuracy.low <= accuracy.delta <= accuracy.high
    f1 = pairing.tests["f1"]
    assert f1.test == "paired bootstrap" and 0 < f1.p_value <= 1 and f1.low <= f1.delta <= f1.high

    table = leaderboard.compare(a, b, pairing).set_index("metric")
    assert table.loc["accuracy ↑", "test"] == "McNemar exact"
    assert table.loc["accuracy ↑", "significant at 0.05"] == "yes"
    assert table.loc["accuracy ↑", "p-value"] == round(accuracy.p_value, 4)
    sentence = pairing.sentence()
    assert sentence.startswith(f"Paired tests on the {n} items both rows scored")
    assert "B is significantly better than A on accuracy ↑" in sentence
    # the same row against itself: every delta is 0, nothing is significant
    same = leaderboard.paired(a, a)
    assert all(t.p_value == 1.0 for t in same.tests.values() if t.p_value is not None)
    assert "no significant difference on accuracy ↑ (p = 1)" in same.sentence()


def test_a_compare_of_rows_with_different_items_refuses_the_test_in_a_sentence(isolated_runs, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    long = evaluate("dummy:oracle", ddi_bench(tmp_path / "a", 12), tmp_path / "out-a", Options())
    short = evaluate("dummy:oracle", ddi_bench(tmp_path / "b", 12), tmp_path / "out-b", Options(limit=8))
    (a,) = leaderboard.add(long, None)
    (b,) = leaderboard.add(short, None)
    pairing = leaderboard.paired(a, b)
    assert pairing.tests == {}
    assert pairing.sentence() == pairing.reason
    assert pairing.reason.startswith("A and B did not score the same items (A 12, B 8, 8 in common")
    assert "so there is no paired test" in pairing.reason
    frame = leaderboard.compare(a, b, pairing)
    assert "p-value" not in frame.columns and list(frame.columns)[-1] == "better"
    # other data with the same ids (another file) is refused as well
    (tmp_path / "c").mkdir()
    other = evaluate("dummy:oracle", ddi_bench(tmp_path / "c", 12, name="tiny-ddi-2", file="other.jsonl",
                                               description="another"), tmp_path / "out-c", Options())
    (c,) = leaderboard.add(other, None)
    assert leaderboard.paired(a, c).reason == ""  # same ids, references and meta: the same items
    gone = leaderboard.add([runner.VariantResult("m", "tiny-ddi", "default", {"accuracy": 1.0}, {}, 12, "h",
                                                 str(tmp_path / "gone.jsonl"))], None)[0]
    assert "are gone" in leaderboard.paired(a, gone).reason
