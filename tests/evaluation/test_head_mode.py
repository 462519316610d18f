"""Head mode: classification and regression runs are scored from their heads on label and number benchmarks, reach
the leaderboard through the normal path, carry intervals, pair with choice and generate rows of the same items, and
are refused with a sentence on benchmarks they cannot answer."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evaluation import benchmark as benchmarks
from evaluation.benchmark import BenchmarkError
from evaluation.runner import Options, evaluate
from tests.head_runs import direct_logits, link_runs, number_rows, train_head_runs, write_jsonl, yes_no_rows

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["yes", "no"]  # the benchmark's order; the head's own is [no, yes]
PROBABILITY_METRICS = ["balanced_accuracy", "auroc", "auprc", "brier", "ece", "accuracy_norm"]


@pytest.fixture(scope="module")
def trained(tiny_llama, tmp_path_factory):
    return train_head_runs(tmp_path_factory.mktemp("head-runs"), tiny_llama, names=("cls-lora", "reg-full"))


@pytest.fixture
def runs(trained, isolated_runs):
    link_runs(trained, isolated_runs)
    return isolated_runs


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def label_items(n: int = 8) -> list[dict]:
    """Held-out yes/no items; each prompt also says what dummy:choice should answer (right on 6 of 8)."""
    rows = yes_no_rows(n, offset=8)
    for i, row in enumerate(rows):
        said = row["meta"]["label"] if i % 4 else ("no" if row["meta"]["label"] == "yes" else "yes")
        row["messages"][0]["content"] += f" Expected: {said} p=0.{6 + i % 3}"
    return rows


def number_items(n: int = 6) -> list[dict]:
    rows = number_rows(n, offset=8)
    for i, row in enumerate(rows):
        row["meta"]["cliff"] = i % 2
        row["messages"][0]["content"] += f" Expected: {row['meta']['label'] + 0.25 * i}"
    return rows


def write_bench(tmp_path: Path, name: str, rows: list[dict], **fields) -> Path:
    spec = {"name": name, "dataset": str(write_jsonl(tmp_path / f"{name}.jsonl", rows)), "reference": "label",
            **fields}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def choice_bench(tmp_path, labels=LABELS) -> Path:
    return write_bench(tmp_path, "tiny-yes-no", label_items(), labels=labels, mode="choice",
                       metrics=["classification", *PROBABILITY_METRICS])


def number_bench(tmp_path, rows=None) -> Path:
    return write_bench(tmp_path, "tiny-numbers", rows or number_items(), parser="number",
                       metrics=["regression", {"name": "cliff_regression", "where": {"cliff": 1}}],
                       generation={"max_new_tokens": 8})


# -- classification -------------------------------------------------------------------------------------------
def test_a_classification_head_is_scored_from_its_softmax_like_a_choice_row(runs, tmp_path):
    from sklearn import metrics as sk

    bench = benchmarks.load(choice_bench(tmp_path))
    [result] = evaluate("run:cls-lora", bench, tmp_path / "out", Options(batch_size=3))
    assert result.details["mode"] == "head" and result.items == 8
    rows = read_jsonl(result.predictions_path)
    for row in rows:
        assert list(row["probabilities"]) == LABELS  # in the benchmark's order
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert row["normalised_probabilities"] == row["probabilities"]
        assert row["output"] == max(row["probabilities"], key=row["probabilities"].get) == row["parsed"]
        assert row["input"] == row["prompt"]  # input_field prompt: the last user message
    direct = direct_logits("cls-lora", rows[0]["prompt"], runs).softmax(-1).tolist()  # the head's [no, yes]
    assert [rows[0]["probabilities"]["no"], rows[0]["probabilities"]["yes"]] == pytest.approx(direct, abs=1e-5)

    gold, said = [r["reference"] for r in rows], [r["output"] for r in rows]
    p_yes = [r["probabilities"]["yes"] for r in rows]
    m = result.metrics
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(gold, said))
    assert m["f1"] == pytest.approx(sk.f1_score(gold, said, pos_label="yes", zero_division=0))
    assert m["mcc"] == pytest.approx(sk.matthews_corrcoef(gold, said))
    assert m["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(gold, said))
    assert m["auroc"] == pytest.approx(sk.roc_auc_score([g == "yes" for g in gold], p_yes))
    assert m["auprc"] == pytest.approx(sk.average_precision_score([g == "yes" for g in gold], p_yes))
    assert m["brier"] == pytest.approx(sk.brier_score_loss([g == "yes" for g in gold], p_yes))
    assert m["accuracy_norm"] == pytest.approx(m["accuracy"]) and m["unparseable"] == 0
    assert {"accuracy", "auroc", "brier"} <= set(result.details["intervals"])
    assert result.details["items_digest"]


def test_a_benchmark_with_several_modes_gives_one_head_result(runs, tmp_path):
    path = write_bench(tmp_path, "both-modes", label_items(4), labels=LABELS, parser="label",
                       modes=["generate", "choice"], metrics=["classification", "auroc"])
    results = evaluate("run:cls-lora", benchmarks.load(path), tmp_path / "out", Options())
    assert [(r.details["mode"], sorted(r.metrics)[:2]) for r in results] == [("head", ["accuracy", "auroc"])]
    # a generate-only label benchmark: the label metrics, from the head's answer
    path = write_bench(tmp_path, "generate-only", label_items(4), labels=LABELS, parser="label",
                       metrics=["classification"])
    [result] = evaluate("run:cls-lora", benchmarks.load(path), tmp_path / "out2", Options())
    assert result.details["mode"] == "head" and "accuracy" in result.metrics


def test_a_finished_head_evaluation_resumes_without_predicting_again(runs, tmp_path, monkeypatch):
    from models.head import HeadModel

    bench = benchmarks.load(choice_bench(tmp_path))
    [first] = evaluate("run:cls-lora", bench, tmp_path / "out", Options(batch_size=4))

    def fail(self, texts):
        raise AssertionError("predicted again")

    monkeypatch.setattr(HeadModel, "predict", fail)
    [again] = evaluate("run:cls-lora", bench, tmp_path / "out", Options(batch_size=4))
    assert again.metrics == first.metrics


# -- regression ---------------------------------------------------------------------------------------------------
def test_a_regression_head_writes_numbers_the_parser_reads_back_exactly(runs, tmp_path):
    from sklearn import metrics as sk

    from evaluation.metrics.regression import parse_number
    from models.head import load_head

    bench = benchmarks.load(number_bench(tmp_path))
    [result] = evaluate("run:reg-full", bench, tmp_path / "out", Options(batch_size=4))
    assert result.details["mode"] == "head"
    rows = read_jsonl(result.predictions_path)
    values = load_head("reg-full").predict([r["input"] for r in rows])
    assert [r["input"] for r in rows] == [r["meta"]["smiles"] for r in number_items()]  # input_field smiles
    assert [parse_number(r["output"]) for r in rows] == [r["value"] for r in rows] == values
    assert values[0] == pytest.approx(float(direct_logits("reg-full", rows[0]["input"], runs)[0]), abs=1e-5)
    gold = [r["reference"] for r in rows]
    assert result.metrics["rmse"] == pytest.approx(sk.root_mean_squared_error(gold, values))
    assert result.metrics["mae"] == pytest.approx(sk.mean_absolute_error(gold, values))
    assert result.metrics["r2"] == pytest.approx(sk.r2_score(gold, values))
    cliff = [i for i, r in enumerate(number_items()) if r["meta"]["cliff"] == 1]
    assert result.metrics["rmse_cliff"] == pytest.approx(
        sk.root_mean_squared_error([gold[i] for i in cliff], [values[i] for i in cliff]))
    assert result.metrics["unparsed_numbers"] == 0 and "rmse" in result.details["intervals"]


# -- what a head cannot be scored on ------------------------------------------------------------------------------
def text_bench(tmp_path) -> Path:
    return write_bench(tmp_path, "tiny-text", yes_no_rows(3), reference="answer", metrics=["token_f1"])


@pytest.mark.parametrize("model, bench, message", [
    ("run:cls-lora", number_bench, r"run:cls-lora is a classification head \(classes no, yes\); benchmark tiny-numbers "
                                   r"scores numbers — pick a classification benchmark such as ddi-binary"),
    ("run:reg-full", choice_bench, r"run:reg-full is a regression head \(it predicts one number\); benchmark "
                                   r"tiny-yes-no chooses between labels \(yes, no\) — pick a regression benchmark "
                                   r"such as freesolv"),
    ("run:cls-lora", text_bench, r"run:cls-lora is a classification head \(classes no, yes\); benchmark tiny-text "
                                 r"scores written text \(token_f1\), which a head cannot write — pick a classification"),
    ("run:reg-full", text_bench, r"benchmark tiny-text scores written text \(token_f1\), which a head cannot write — "
                                 r"pick a regression benchmark such as"),
    ("run:cls-lora", lambda tmp: choice_bench(tmp, labels=["interaction", "no interaction"]),
     r"classes \{no, yes\}, but benchmark tiny-yes-no chooses between \{interaction, no interaction\}: the class "
     r"names must be the same \(case ignored\)"),
    ("run:reg-full", lambda tmp: number_bench(tmp, [{**r, "meta": {k: v for k, v in r["meta"].items() if k != "smiles"}}
                                                    for r in number_items()]),
     r"tiny-numbers: item 1 \(id mol-8\) has no meta field 'smiles', which the head reads \(the run's input_field\)"),
])
def test_a_benchmark_the_head_cannot_answer_fails_with_a_sentence_and_adds_no_row(runs, tmp_path, model, bench,
                                                                                   message):
    from evaluation import leaderboard
    from evaluation.__main__ import run
    from evaluation.config import EvalConfig
    from models.registry import CACHE

    path = bench(tmp_path)
    with pytest.raises(BenchmarkError, match=message):
        evaluate(model, benchmarks.load(path), tmp_path / "direct", Options())
    code, summary = run(EvalConfig(models=[model], benchmarks=[str(path)]), tmp_path / "job", quiet=True)
    assert code == 1 and summary["results"] == [] and re.search(message, summary["error"])
    assert leaderboard.rows() == [] and CACHE.loaded() == []  # refused before any weights loaded


# -- the leaderboard -----------------------------------------------------------------------------------------------
def test_head_rows_reach_the_leaderboard_and_pair_with_choice_and_generate_rows(runs, tmp_path, tiny_llama):
    from evaluation import leaderboard
    from evaluation.__main__ import run
    from evaluation.config import EvalConfig

    labels, numbers = choice_bench(tmp_path), number_bench(tmp_path)
    code, summary = run(EvalConfig(models=["run:cls-lora", "dummy:choice"], benchmarks=[str(labels)]),
                        tmp_path / "labels-job", quiet=True)
    assert code == 0, summary
    code, summary_numbers = run(EvalConfig(models=["run:reg-full", "dummy:oracle"], benchmarks=[str(numbers)]),
                                tmp_path / "numbers-job", quiet=True)
    assert code == 0, summary_numbers
    head, choice = summary["results"]
    assert (head["mode"], choice["mode"]) == ("head", "choice") and head["intervals"]["accuracy"]["low"] is not None

    table = leaderboard.table("tiny-yes-no")
    row = table[table["model"] == "run:cls-lora"].iloc[0]
    assert (row["mode"], row["method"]) == ("head", "lora")
    assert leaderboard.get(head["leaderboard_id"]).base_model == f"hf:{tiny_llama}"

    a, b = leaderboard.get(head["leaderboard_id"]), leaderboard.get(choice["leaderboard_id"])
    assert a.config_hash != b.config_hash and a.details["items_digest"] == b.details["items_digest"]
    pairing = leaderboard.paired(a.id, b.id)
    assert pairing.reason == "" and pairing.items == 8
    assert pairing.tests["accuracy"].test == "McNemar exact" and pairing.tests["accuracy"].p_value is not None
    assert pairing.tests["auroc"].p_value is not None and pairing.tests["brier"].p_value is not None
    assert "Paired tests on the 8 items" in pairing.sentence()

    head_n, oracle = summary_numbers["results"]
    assert (head_n["mode"], oracle["mode"]) == ("head", "generate")
    numbers_pairing = leaderboard.paired(head_n["leaderboard_id"], oracle["leaderboard_id"])
    assert numbers_pairing.reason == "" and numbers_pairing.tests["rmse"].p_value is not None


@pytest.mark.slow
def test_the_cli_evaluates_a_head_run_and_prints_the_summary_with_intervals(runs, tmp_path):
    path = choice_bench(tmp_path)
    env = {**os.environ, "PHARMATUNE_RUNS": str(runs)}
    proc = subprocess.run([sys.executable, "-m", "evaluation", "run", "--model", "run:cls-lora", "--benchmark",
                           str(path), "--limit", "5", "--out", str(tmp_path / "cli")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.rstrip().splitlines()
    summary = json.loads("\n".join(lines[max(i for i, line in enumerate(lines) if line == "{"):]))
    [entry] = summary["results"]
    assert (entry["model"], entry["mode"], entry["items"]) == ("run:cls-lora", "head", 5)
    assert set(entry["intervals"]) >= {"accuracy", "brier"} and entry["leaderboard_id"] is not None
    assert "5/5" in proc.stderr
