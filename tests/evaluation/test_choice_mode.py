"""Choice mode end to end: benchmark fields and their errors, the runner's rows, resume, both modes, real models.

Prompts end in "Expected: <label> p=<probability>", so dummy:choice's probabilities (and every metric) are known.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation import benchmark as benchmarks
from evaluation.benchmark import BenchmarkError
from evaluation.metrics import compute
from evaluation.runner import EvaluationFailed, Options, evaluate

LABELS = ["interaction", "no interaction"]
PROBABILITY_METRICS = ["balanced_accuracy", "auroc", "auprc", "brier", "ece", "accuracy_norm"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


# (reference, the label the prompt expects, its probability): 5 right, 1 wrong, varied confidence
CASES = [("interaction", "interaction", 0.9), ("no interaction", "no interaction", 0.8),
         ("interaction", "interaction", 0.6), ("no interaction", "interaction", 0.7),
         ("interaction", "interaction", 0.95), ("no interaction", "no interaction", 0.55)]


def rows_for(cases=CASES, marker: dict[int, str] | None = None) -> list[dict]:
    rows = []
    for i, (label, said, p) in enumerate(cases):
        extra = (marker or {}).get(i, "")
        rows.append({"messages": [{"role": "user", "content": f"Do A{i} and B{i} interact?{extra} "
                                                              f"Expected: {said} p={p}"},
                                  {"role": "assistant", "content": label}],
                     "meta": {"id": f"pair-{i}", "label": label}})
    return rows


def bench_spec(dataset: Path, **fields) -> dict:
    return {"name": "tiny-choice", "dataset": str(dataset), "reference": "label", "labels": LABELS, "mode": "choice",
            "metrics": ["classification", *PROBABILITY_METRICS], **fields}


def choice_bench(tmp_path: Path, rows=None, **fields) -> benchmarks.Benchmark:
    dataset = write_jsonl(tmp_path / "pairs.jsonl", rows if rows is not None else rows_for())
    return benchmarks.from_dict(bench_spec(dataset, **fields), tmp_path / "tiny-choice.yaml")


def expected_probabilities(cases=CASES) -> list[dict]:
    return [{label: (p if label == said else 1 - p) for label in LABELS} for _, said, p in cases]


@pytest.fixture
def scored_batches(monkeypatch) -> list[list[str]]:
    """The last user message of every conversation dummy models are asked to score, one list per call."""
    from models.dummy import DummyChatModel

    calls: list[list[str]] = []
    original = DummyChatModel.choice_logprobs

    def spy(self, conversations, labels):
        calls.append([c[-1]["content"] for c in conversations])
        return original(self, conversations, labels)

    monkeypatch.setattr(DummyChatModel, "choice_logprobs", spy)
    return calls


# -- a complete run ------------------------------------------------------------------------------------------------
def test_a_choice_run_writes_probabilities_and_scores_them(tmp_path, scored_batches):
    bench = choice_bench(tmp_path)
    assert bench.modes == ["choice"] and bench.parser == "label"  # a choice answer is a label
    [result] = evaluate("dummy:choice", bench, tmp_path / "out", Options(batch_size=4))
    assert result.details["mode"] == "choice"
    assert sum(len(c) for c in scored_batches) == 6 and len(scored_batches) == 2  # batched, each item once

    probs = expected_probabilities()
    refs = [label for label, _, _ in CASES]
    preds = [max(p, key=p.get) for p in probs]
    m = result.metrics
    assert m["accuracy"] == pytest.approx(5 / 6) and m["unparseable"] == 0
    for name in ("auroc", "auprc", "brier", "ece"):
        assert m[name] == pytest.approx(compute(name, preds, refs, probabilities=probs, labels=LABELS)[name])
    assert m["balanced_accuracy"] == pytest.approx(compute("balanced_accuracy", preds, refs)["balanced_accuracy"])
    # every label is one word per token for the dummy, so the per-token ranking can differ from the sum's
    assert 0 <= m["accuracy_norm"] <= 1

    rows = read_jsonl(result.predictions_path)
    assert [r["index"] for r in rows] == list(range(6))
    for row, p, pred in zip(rows, probs, preds):
        assert row["output"] == pred and row["parsed"] == pred
        assert row["probabilities"] == pytest.approx(p)
        assert set(row["logprobs"]) == set(LABELS) and row["label_tokens"] == {"interaction": 1, "no interaction": 2}
        assert sum(row["normalised_probabilities"].values()) == pytest.approx(1)
        assert row["scores"]["accuracy"] == float(pred == row["reference"])
        assert row["scores"]["brier"] == pytest.approx(
            (p["interaction"] - (row["reference"] == "interaction")) ** 2)


def test_choice_and_generate_results_of_one_benchmark_are_separate(tmp_path):
    dataset = write_jsonl(tmp_path / "pairs.jsonl", rows_for())
    spec = bench_spec(dataset, parser="label")
    spec.pop("mode")
    bench = benchmarks.from_dict({**spec, "modes": ["generate", "choice"]}, tmp_path / "both.yaml")
    results = evaluate("dummy:choice", bench, tmp_path / "out", Options(batch_size=4))
    generate, choice = results
    assert [r.details["mode"] for r in results] == ["generate", "choice"]
    assert generate.config_hash != choice.config_hash
    assert Path(generate.predictions_path).parent.name == "generate"
    assert Path(choice.predictions_path).parent.name == "choice"
    # generate mode: what dummy:choice writes ("interaction p=0.9") parsed as a label; no probability metrics
    assert "auroc" not in generate.metrics and "balanced_accuracy" in generate.metrics
    assert generate.metrics["accuracy"] == pytest.approx(5 / 6)
    assert "auroc" in choice.metrics and "probabilities" not in read_jsonl(generate.predictions_path)[0]
    # the generate half is the same evaluation as a generate-only benchmark with the metrics it can score
    alone = benchmarks.from_dict({**spec, "mode": "generate", "metrics": ["classification", "balanced_accuracy"]},
                                 tmp_path / "both.yaml")
    assert bench.for_mode("generate").config_hash() == alone.config_hash()


def test_an_interrupted_choice_run_resumes_with_only_the_missing_items(tmp_path, scored_batches):
    longest = {5: " FAIL" + " and more words" * 5}  # the longest prompt: the last batch
    bench = choice_bench(tmp_path, rows_for(marker=longest))
    with pytest.raises(EvaluationFailed, match=r"dummy:choice failed on tiny-choice \(default, choice mode\) at "
                                               r"item \d+: .*FAIL.*The 4 finished items are kept"):
        evaluate("dummy:choice", bench, tmp_path / "out", Options(batch_size=4))
    assert len(read_jsonl(tmp_path / "out" / "predictions.jsonl")) == 4
    bench = choice_bench(tmp_path, rows_for(marker={5: " and more words" * 5}))  # the data fixed
    scored_batches.clear()
    [result] = evaluate("dummy:choice", bench, tmp_path / "out", Options(batch_size=4))
    assert len(scored_batches) == 1 and len(scored_batches[0]) == 2  # items 5 and 6 only
    assert result.items == 6 and len(read_jsonl(result.predictions_path)) == 6


def test_a_model_without_log_probabilities_fails_with_the_way_out(tmp_path):
    with pytest.raises(EvaluationFailed, match="dummy:echo gives no log-probabilities; use generate mode"):
        evaluate("dummy:echo", choice_bench(tmp_path), tmp_path / "out", Options())


def test_a_predictions_file_cannot_be_scored_in_choice_mode(tmp_path):
    answers = write_jsonl(tmp_path / "answers.jsonl", [{"id": f"pair-{i}", "prediction": "interaction"}
                                                       for i in range(6)])
    with pytest.raises(BenchmarkError, match="tiny-choice is scored in choice mode.*use mode: generate|"
                                             "score it with mode: generate"):
        evaluate("file:answers", choice_bench(tmp_path), tmp_path / "out", Options(predictions_file=str(answers)))


def test_the_tiny_llama_gives_the_same_probabilities_at_any_batch_size(tiny_llama, tmp_path):
    from models.registry import resolve

    bench = choice_bench(tmp_path)
    one = evaluate(f"hf:{tiny_llama}", bench, tmp_path / "one", Options(batch_size=1))[0]
    four = evaluate(f"hf:{tiny_llama}", bench, tmp_path / "four", Options(batch_size=4))[0]
    rows_one, rows_four = read_jsonl(one.predictions_path), read_jsonl(four.predictions_path)
    direct = resolve(f"hf:{tiny_llama}").choice_logprobs([it.messages for it in bench.items()], LABELS)
    for a, b, scores in zip(rows_one, rows_four, direct):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
        assert a["probabilities"] == pytest.approx(scores.probabilities(), abs=1e-5)
        assert a["output"] == scores.best()
    assert one.metrics["unparseable"] == 0 and one.details["mode"] == "choice"


def test_a_choice_row_reaches_the_leaderboard_with_its_mode(isolated_runs, tmp_path):
    from evaluation import leaderboard

    results = evaluate("dummy:choice", choice_bench(tmp_path), tmp_path / "out", Options())
    [row_id] = leaderboard.add(results, None)
    row = leaderboard.get(row_id)
    assert row.details["mode"] == "choice" and row.metrics["auroc"] == pytest.approx(results[0].metrics["auroc"])


@pytest.mark.parametrize("name", ["ddi-binary-choice", "ddi-severity-choice"])
def test_the_shipped_choice_benchmarks_run_on_the_dummy(name, tmp_path):
    bench = benchmarks.load(name)
    assert bench.modes == ["choice"] and len(bench.labels) >= 2
    [result] = evaluate("dummy:choice", bench, tmp_path / "out", Options(limit=6, batch_size=6))
    assert result.metrics["unparseable"] == 0 and result.details["mode"] == "choice"
    assert result.metrics["brier"] is not None


def test_the_shared_choice_benchmark_reads_the_same_items_as_the_generate_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_SHARED_DATA", str(tmp_path / "nothing"))
    choice, generate = benchmarks.load("ddi-binary-shared-choice"), benchmarks.load("ddi-binary-shared")
    assert (choice.dataset, choice.split, choice.prompt) == (generate.dataset, generate.split, generate.prompt)
    assert choice.availability() and "shared:ddi" in choice.availability()  # skipped cleanly without the folder


# -- benchmark files ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"labels": None}, r"labels: choice mode scores the log-probability of each label .*needs the label set"),
    ({"labels": ["interaction"]}, "at least two different labels"),
    ({"modes": ["choice"]}, "give mode: \\(one\\) or modes: \\(a list\\), not both"),
    ({"mode": "choise"}, "mode: 'choise' is not a mode. Did you mean 'choice'"),
    ({"mode": None, "modes": []}, "modes: the list is empty"),
    ({"mode": None, "modes": ["choice", "choice"]}, "a mode is listed twice"),
    ({"mode": "generate", "parser": "label"}, "metrics: auroc reads the label probabilities that only choice mode"),
    ({"mode": None, "modes": ["generate", "choice"], "parser": "label", "metrics": ["auroc"]},
     "none of them can score generate mode"),
])
def test_a_bad_choice_benchmark_names_the_file_and_the_field(change, message, tmp_path):
    dataset = write_jsonl(tmp_path / "pairs.jsonl", rows_for())
    spec = {k: v for k, v in {**bench_spec(dataset), **change}.items() if v is not None}
    with pytest.raises(BenchmarkError, match=message) as caught:
        benchmarks.from_dict(spec, tmp_path / "bad.yaml")
    assert str(tmp_path / "bad.yaml") in str(caught.value)


def test_labels_come_from_the_prompt_when_the_file_gives_none(tmp_path):
    dataset = write_jsonl(tmp_path / "pairs.jsonl", [
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "interaction"}],
         "meta": {"drug1": "A", "drug2": "B", "smiles1": "C", "smiles2": "N", "label": "interaction"}}])
    spec = {k: v for k, v in bench_spec(dataset, prompt="ddi.binary").items() if k != "labels"}
    assert benchmarks.from_dict(spec, tmp_path / "b.yaml").labels == LABELS


def test_a_reference_outside_the_labels_is_named_before_any_model_runs(tmp_path):
    rows = rows_for()
    rows[2]["meta"]["label"] = "maybe"
    bench = choice_bench(tmp_path, rows)
    with pytest.raises(BenchmarkError, match="item 3: the reference 'maybe' is not one of the labels"):
        bench.items()


def test_a_generate_benchmark_keeps_its_hash_now_that_modes_exist(tmp_path):
    dataset = write_jsonl(tmp_path / "pairs.jsonl", rows_for())
    spec = {"name": "g", "dataset": str(dataset), "reference": "label", "parser": "label", "labels": LABELS,
            "metrics": ["classification"]}
    plain = benchmarks.from_dict(spec, tmp_path / "g.yaml")
    assert plain.modes == ["generate"]
    assert plain.config_hash() == benchmarks.from_dict({**spec, "mode": "generate"}, tmp_path / "g.yaml").config_hash()
    assert plain.config_hash() != benchmarks.from_dict({**spec, "mode": "choice"}, tmp_path / "g.yaml").config_hash()


def test_stored_probabilities_mapped_from_the_records_are_scored_in_generate_mode(tmp_path):
    rows = rows_for()
    for row, probs in zip(rows, expected_probabilities()):
        row["meta"]["probs"] = probs
    dataset = write_jsonl(tmp_path / "pairs.jsonl", rows)
    spec = {**bench_spec(dataset, mode="generate", parser="label"), "metrics": ["classification", "auroc"],
            "inputs": {"probabilities": "probs"}}
    bench = benchmarks.from_dict(spec, tmp_path / "stored.yaml")
    [result] = evaluate("dummy:oracle", bench, tmp_path / "out", Options())
    refs = [label for label, _, _ in CASES]
    assert result.details["mode"] == "generate"
    assert result.metrics["auroc"] == pytest.approx(
        compute("auroc", refs, refs, probabilities=expected_probabilities())["auroc"])
