"""The runner: batched generation, predictions.jsonl, resume, failures, variants, groups and predictions files.

Small benchmarks written to tmp_path; prompts end in "Expected: <answer>" so dummy:oracle answers are known and
every metric value is predictable exactly.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from evaluation import benchmark as benchmarks, runner
from evaluation.benchmark import BenchmarkError
from evaluation.runner import EvaluationFailed, Options, evaluate

LABELS = ["interaction", "no interaction"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def ddi_rows(n: int = 6, wrong: tuple[int, ...] = ()) -> list[dict]:
    """Pairs with alternating labels; the oracle states the other label for the indices in `wrong`."""
    rows = []
    for i in range(n):
        label = LABELS[i % 2]
        said = LABELS[(i + 1) % 2] if i in wrong else label
        rows.append({"messages": [{"role": "user", "content": f"Do A{i} and B{i} interact? Expected: {said}"},
                                  {"role": "assistant", "content": label}],
                     "meta": {"id": f"pair-{i}", "label": label, "group": f"g{i % 3}"}})
    return rows


def ddi_bench(tmp_path: Path, rows: list[dict] | None = None, **fields) -> benchmarks.Benchmark:
    dataset = write_jsonl(tmp_path / "pairs.jsonl", rows if rows is not None else ddi_rows())
    spec = {"name": "tiny-ddi", "dataset": str(dataset), "reference": "label", "parser": "label", "labels": LABELS,
            "metrics": ["classification"], "generation": {"max_new_tokens": 8}, **fields}
    return benchmarks.from_dict(spec, tmp_path / "tiny-ddi.yaml")


def number_rows(values: list[float], said: list[float] | None = None) -> list[dict]:
    said = values if said is None else said
    return [{"messages": [{"role": "user", "content": f"Solubility of compound {i}? Expected: {s}"},
                          {"role": "assistant", "content": str(v)}],
             "meta": {"id": f"c{i}", "label": v}} for i, (v, s) in enumerate(zip(values, said))]


def number_bench(tmp_path: Path, rows: list[dict], **fields) -> benchmarks.Benchmark:
    dataset = write_jsonl(tmp_path / "numbers.jsonl", rows)
    spec = {"name": "tiny-numbers", "dataset": str(dataset), "reference": "label", "parser": "number",
            "metrics": ["regression"], **fields}
    return benchmarks.from_dict(spec, tmp_path / "tiny-numbers.yaml")


@pytest.fixture
def generated(monkeypatch) -> list[str]:
    """The last user message of every conversation a dummy model is asked to answer, in order."""
    from models.dummy import DummyChatModel

    seen: list[str] = []
    original = DummyChatModel.generate

    def counting(self, conversations, params):
        seen.extend(c[-1]["content"] for c in conversations)
        return original(self, conversations, params)

    monkeypatch.setattr(DummyChatModel, "generate", counting)
    return seen


# -- a complete run ----------------------------------------------------------------------------------------------
def test_oracle_run_gives_the_exact_metrics_and_a_scored_predictions_file(tmp_path):
    bench = ddi_bench(tmp_path, ddi_rows(6, wrong=(4, 5)))
    events = []
    results = evaluate("dummy:oracle", bench, tmp_path / "out", Options(batch_size=4),
                       lambda event, **f: events.append((event, f)))
    assert len(results) == 1
    r = results[0]
    assert (r.model, r.benchmark, r.variant, r.items) == ("dummy:oracle", "tiny-ddi", "default", 6)
    # 4 right of 6; each class: 2 right, 1 wrong -> precision = recall = f1 = 2/3; MCC = 1/3
    assert r.metrics["accuracy"] == pytest.approx(4 / 6)
    assert r.metrics["precision"] == pytest.approx(2 / 3) and r.metrics["recall"] == pytest.approx(2 / 3)
    assert r.metrics["mcc"] == pytest.approx(1 / 3)
    assert r.metrics["unparseable"] == 0
    assert r.details["confusion_matrix"]["matrix"] == [[2, 1, 0], [1, 2, 0]]
    # the leaderboard's hash covers the data and settings but not the model (nor the batch size): two models'
    # rows on one benchmark match
    other = evaluate("dummy:interaction", bench, tmp_path / "other", Options(batch_size=1))[0]
    assert other.metrics["accuracy"] == pytest.approx(3 / 6)  # always "interaction": items 0, 2, 4 are right
    assert other.config_hash == r.config_hash and len(r.config_hash) == 16
    assert Path(r.predictions_path) == (tmp_path / "out" / "predictions.jsonl").resolve()

    rows = read_jsonl(r.predictions_path)
    assert [row["index"] for row in rows] == list(range(6))
    assert [row["id"] for row in rows] == [f"pair-{i}" for i in range(6)]
    for i, row in enumerate(rows):
        said = LABELS[(i + 1) % 2] if i in (4, 5) else LABELS[i % 2]
        assert row["output"] == said and row["parsed"] == said
        assert row["reference"] == LABELS[i % 2]
        assert row["scores"] == {"accuracy": 0.0 if i in (4, 5) else 1.0}
        assert row["config_hash"] == rows[0]["config_hash"] and row["variant"] == "default"  # the resume key
        assert row["prompt"].endswith(f"Expected: {said}")
    assert r.details["prompt_tokens"] == sum(row["prompt_tokens"] for row in rows) > 0

    names = [e for e, _ in events]
    assert names[0] == "progress" and "scoring" in names and "resume_items" not in names
    progress = [f for e, f in events if e == "progress"]
    assert [p["done"] for p in progress] == [0, 4, 6] and all(p["total"] == 6 for p in progress)
    assert progress[-1]["eta_s"] == 0


def test_regression_values_and_per_item_errors(tmp_path):
    values, said = [1.0, 2.0, 3.0, 4.0], [1.0, 2.5, 2.0, 4.0]
    bench = number_bench(tmp_path, number_rows(values, said))
    r = evaluate("dummy:oracle", bench, tmp_path / "out", Options())[0]
    errors = [abs(s - v) for v, s in zip(values, said)]
    assert r.metrics["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in errors) / 4))
    assert r.metrics["mae"] == pytest.approx(statistics.fmean(errors))
    assert r.metrics["unparsed_numbers"] == 0
    rows = read_jsonl(r.predictions_path)
    assert [row["parsed"] for row in rows] == said
    assert [row["scores"]["rmse"] for row in rows] == pytest.approx(errors)


def test_batch_size_1_and_4_give_identical_outputs_with_a_real_model(tmp_path, tiny_llama):
    rows = [{"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "x"}],
             "meta": {"id": f"t{i}"}}
            for i, text in enumerate(["Warfarin interacts", "Metformin lowers glucose", "Aspirin",
                                      "Atorvastatin can cause myopathy and rarely rhabdomyolysis", "SMILES CCO",
                                      "Which drug inhibits CYP2C9?"])]
    dataset = write_jsonl(tmp_path / "text.jsonl", rows)
    bench = benchmarks.from_dict({"name": "tiny-text", "dataset": str(dataset), "metrics": ["exact_match"],
                                  "generation": {"max_new_tokens": 6, "temperature": 0}}, tmp_path / "t.yaml")
    ref = f"hf:{tiny_llama}"
    one = evaluate(ref, bench, tmp_path / "b1", Options(batch_size=1))
    four = evaluate(ref, bench, tmp_path / "b4", Options(batch_size=4))
    out1 = [r["output"] for r in read_jsonl(one[0].predictions_path)]
    out4 = [r["output"] for r in read_jsonl(four[0].predictions_path)]
    assert len(out1) == 6 and all(o.strip() for o in out1)
    assert out1 == out4
    assert one[0].metrics == four[0].metrics


@pytest.mark.slow
def test_float32_answers_of_the_builtin_model_do_not_depend_on_the_batch_size(tmp_path, builtin_folder,
                                                                              monkeypatch):
    """The README's claim: 8 bundled DDI pairs, greedy, 16 new tokens (the benchmark's own settings), at batch size
    1 and 8 (one left-padded batch) give the same answers item by item. The check has teeth: with
    PHARMATUNE_DTYPE=bfloat16 the same run gave 2 of these 8 answers different endings at batch 8."""
    import torch
    from models import registry

    monkeypatch.setenv("PHARMATUNE_DTYPE", "float32")
    bench = benchmarks.load("ddi-binary")
    ref = "builtin:smollm2-135m-instruct"
    one = evaluate(ref, bench, tmp_path / "b1", Options(limit=8, batch_size=1))[0]
    eight = evaluate(ref, bench, tmp_path / "b8", Options(limit=8, batch_size=8))[0]
    assert registry.resolve(ref).model.dtype == torch.float32
    rows1, rows8 = read_jsonl(one.predictions_path), read_jsonl(eight.predictions_path)
    assert [r["id"] for r in rows1] == [r["id"] for r in rows8] and len(rows1) == 8
    assert all(r["output"].strip() for r in rows1)
    assert [r["output"] for r in rows1] == [r["output"] for r in rows8]
    assert one.metrics == eight.metrics


# -- failures and resume -----------------------------------------------------------------------------------------
def marker_rows(n: int = 6, fail_at: int | None = 4) -> list[dict]:
    """Prompts of one length (the runner batches similar lengths together), so batches follow the item order."""
    return [{"messages": [{"role": "user", "content": f"Question {i} {'FAIL' if i == fail_at else 'PASS'} Expected: a{i}"},
                          {"role": "assistant", "content": f"a{i}"}], "meta": {"id": f"q{i}"}} for i in range(n)]


def marker_bench(tmp_path: Path, rows: list[dict]) -> benchmarks.Benchmark:
    dataset = write_jsonl(tmp_path / "marker.jsonl", rows)
    return benchmarks.from_dict({"name": "marker", "dataset": str(dataset), "metrics": ["exact_match"]},
                                tmp_path / "marker.yaml")


def test_a_model_failing_mid_run_keeps_the_finished_items_and_a_fixed_dataset_resumes(tmp_path, generated):
    bench = marker_bench(tmp_path, marker_rows())
    out = tmp_path / "out"
    with pytest.raises(EvaluationFailed) as info:
        evaluate("dummy:fail-on-marker", bench, out, Options(batch_size=2))
    assert "at item 5" in str(info.value) and "predictions.jsonl" in str(info.value)
    kept = read_jsonl(out / "predictions.jsonl")
    assert [row["index"] for row in kept] == [0, 1, 2, 3]
    assert all(row["output"] == f"You said: Question {row['index']} PASS Expected: a{row['index']}" for row in kept)

    write_jsonl(tmp_path / "marker.jsonl", marker_rows(fail_at=None))  # the dataset is fixed at the same path
    generated.clear()
    events = []
    results = evaluate("dummy:fail-on-marker", bench, out, Options(batch_size=2),
                       lambda event, **f: events.append((event, f)))
    assert sorted(generated) == ["Question 4 PASS Expected: a4", "Question 5 PASS Expected: a5"]
    assert ("resume_items", {"items": 4, "path": str(out / "predictions.jsonl")}) in events
    assert [row["index"] for row in read_jsonl(out / "predictions.jsonl")] == list(range(6))
    assert results[0].items == 6 and results[0].metrics["exact_match"] == 0.0


def test_the_failure_message_counts_the_kept_items_right(tmp_path):
    bench = marker_bench(tmp_path, marker_rows())
    with pytest.raises(EvaluationFailed) as info:
        evaluate("dummy:fail-on-marker", bench, tmp_path / "out", Options(batch_size=2))
    assert "The 4 finished items are kept" in str(info.value)


def test_a_model_that_fails_to_load_raises_a_model_error(tmp_path):
    from models.errors import ModelError

    with pytest.raises(ModelError, match="fail-load"):
        evaluate("dummy:fail-load", ddi_bench(tmp_path), tmp_path / "out", Options())
    assert not (tmp_path / "out" / "predictions.jsonl").exists() or not read_jsonl(tmp_path / "out" / "predictions.jsonl")


def test_an_interrupted_run_resumes_with_only_the_rest_generated(tmp_path, generated):
    bench = ddi_bench(tmp_path, ddi_rows(6, wrong=(1,)))
    out = tmp_path / "out"
    first = evaluate("dummy:oracle", bench, out, Options(batch_size=2))[0]
    assert len(generated) == 6
    lines = (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    # a kill after 2 items, in the middle of writing the third line
    (out / "predictions.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][: len(lines[2]) // 2],
                                           encoding="utf-8")
    generated.clear()
    events = []
    again = evaluate("dummy:oracle", bench, out, Options(batch_size=2), lambda e, **f: events.append((e, f)))[0]
    assert sorted(generated) == [f"Do A{i} and B{i} interact? Expected: {LABELS[i % 2]}" for i in range(2, 6)]
    assert [f for e, f in events if e == "resume_items"] == [{"items": 2, "path": str(out / "predictions.jsonl")}]
    assert [f["done"] for e, f in events if e == "progress"][0] == 2
    assert again.metrics == first.metrics
    rows = read_jsonl(out / "predictions.jsonl")
    assert [row["index"] for row in rows] == list(range(6)) and all("scores" in row for row in rows)


def test_a_finished_run_evaluated_again_generates_nothing(tmp_path, generated):
    bench = ddi_bench(tmp_path)
    first = evaluate("dummy:oracle", bench, tmp_path / "out", Options())[0]
    generated.clear()
    again = evaluate("dummy:oracle", bench, tmp_path / "out", Options())[0]
    assert generated == []
    assert again.metrics == first.metrics


@pytest.mark.parametrize("change", ["limit", "prompt", "model"])
def test_a_changed_configuration_does_not_reuse_old_predictions(change, tmp_path, generated):
    bench = ddi_bench(tmp_path)
    out = tmp_path / "out"
    evaluate("dummy:oracle", bench, out, Options(limit=4))
    old_hash = read_jsonl(out / "predictions.jsonl")[0]["config_hash"]
    generated.clear()
    model, limit = "dummy:oracle", 4
    if change == "limit":
        limit = 3
    elif change == "prompt":
        bench = ddi_bench(tmp_path, prompt="datasets.drug_qa")  # adds a system prompt
    else:
        model = "dummy:interaction"
    r = evaluate(model, bench, out, Options(limit=limit))[0]
    assert len(generated) == limit
    rows = read_jsonl(out / "predictions.jsonl")
    assert len(rows) == limit and r.items == limit
    assert len({row["config_hash"] for row in rows}) == 1 and rows[0]["config_hash"] != old_hash


def test_the_leaderboard_hash_follows_the_data_bytes_and_the_prompt_text(tmp_path, monkeypatch):
    """Rows with one hash must have scored the same items the same way: the hash changes with the dataset's content
    at the same path and with the template's text under the same prompt name, and comes back with them."""
    import prompts

    folder = tmp_path / "prompts"
    folder.mkdir()
    monkeypatch.setattr(prompts, "HERE", folder)
    template = folder / "evalhash.yaml"
    template.write_text('ask:\n  user: "{question}"\n', encoding="utf-8")
    bench = ddi_bench(tmp_path, prompt="evalhash.ask")
    runs = iter(range(100))

    def leaderboard_hash(model="dummy:oracle"):
        return evaluate(model, bench, tmp_path / f"out{next(runs)}", Options())[0].config_hash

    base = leaderboard_hash()
    assert leaderboard_hash("dummy:no-interaction") == base

    write_jsonl(tmp_path / "pairs.jsonl", ddi_rows(6, wrong=(3,)))  # one prompt's text differs, same file name
    changed_data = leaderboard_hash()
    write_jsonl(tmp_path / "pairs.jsonl", ddi_rows())
    assert changed_data != base and leaderboard_hash() == base

    template.write_text('ask:\n  system: Answer in two words.\n  user: "{question}"\n', encoding="utf-8")
    changed_prompt = leaderboard_hash()
    template.write_text('ask:\n  user: "{question}"\n', encoding="utf-8")
    assert changed_prompt not in (base, changed_data) and leaderboard_hash() == base

    assert evaluate("dummy:oracle", bench, tmp_path / "limited", Options(limit=4))[0].config_hash != base


# -- variants, robustness and groups ------------------------------------------------------------------------------
@pytest.fixture
def prompt_dir(tmp_path, monkeypatch) -> Path:
    """A prompts/ folder of this test's own: one template per variant, each telling the oracle other numbers."""
    import prompts

    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "evaltest.yaml").write_text(
        "right:\n  user: \"{question} Expected: {label}\"\n"
        "near:\n  user: \"{question} Expected: {near}\"\n"
        "far:\n  system: Answer with a number.\n  user: \"{question} Expected: {far}\"\n", encoding="utf-8")
    monkeypatch.setattr(prompts, "HERE", folder)
    return folder


VALUES = [1.0, 2.0, 3.0, 4.0, 5.0]
NEAR = [1.5, 2.0, 2.5, 4.0, 5.5]
FAR = [3.0, 0.0, 3.0, 8.0, 5.0]


def variant_bench(tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"Solubility of compound {i}?"},
                          {"role": "assistant", "content": str(v)}],
             "meta": {"id": f"c{i}", "label": v, "near": n, "far": f}}
            for i, (v, n, f) in enumerate(zip(VALUES, NEAR, FAR))]
    return number_bench(tmp_path, rows, prompt="evaltest.right", variants=[
        {"name": "right", "prompt": "evaltest.right"}, {"name": "near", "prompt": "evaltest.near"},
        {"name": "far", "prompt": "evaltest.far", "description": "far off"}])


def rmse(said):
    return math.sqrt(statistics.fmean((s - v) ** 2 for s, v in zip(said, VALUES)))


def test_prompt_variants_give_one_result_each_and_robustness_is_mean_and_stdev(tmp_path, prompt_dir):
    bench = variant_bench(tmp_path)
    results = evaluate("dummy:oracle", bench, tmp_path / "out", Options())
    assert [r.variant for r in results] == ["right", "near", "far"]
    assert [r.metrics["rmse"] for r in results] == pytest.approx([0.0, rmse(NEAR), rmse(FAR)])
    assert results[0].metrics["r2"] == pytest.approx(1.0)
    assert len({r.config_hash for r in results}) == 1
    spread = results[0].details["robustness"]
    assert all(r.details["robustness"] == spread for r in results)
    for key in ("rmse", "mae", "r2"):
        per_variant = [r.metrics[key] for r in results]
        assert spread[key]["mean"] == pytest.approx(statistics.fmean(per_variant))
        assert spread[key]["std"] == pytest.approx(statistics.stdev(per_variant))
        assert spread[key]["variants"] == {r.variant: r.metrics[key] for r in results}
    assert spread["unparsed_numbers"]["std"] == 0
    rows = read_jsonl(tmp_path / "out" / "predictions.jsonl")
    assert [(row["variant"], row["index"]) for row in rows] == [(v, i) for v in ("right", "near", "far")
                                                                for i in range(5)]
    assert [row["parsed"] for row in rows if row["variant"] == "far"] == FAR


def test_robustness_leaves_out_metrics_with_fewer_than_two_numbers():
    def result(variant, metrics):
        return runner.VariantResult("m", "b", variant, metrics, {}, 3, "h", "p")

    spread = runner.robustness([result("a", {"x": 1.0, "y": None, "z": float("nan")}),
                                result("b", {"x": 3.0, "y": 2.0, "z": 1.0})])
    assert spread == {"x": {"mean": 2.0, "std": statistics.stdev([1.0, 3.0]), "variants": {"a": 1.0, "b": 3.0}}}


def test_chosen_variants_only(tmp_path, prompt_dir):
    results = evaluate("dummy:oracle", variant_bench(tmp_path), tmp_path / "out", Options(variants=["far"]))
    assert [r.variant for r in results] == ["far"]
    assert "robustness" not in results[0].details
    assert results[0].metrics["rmse"] == pytest.approx(rmse(FAR))


def test_group_by_gives_per_group_scores(tmp_path):
    bench = ddi_bench(tmp_path, ddi_rows(6, wrong=(1, 5)), group_by="group")
    r = evaluate("dummy:oracle", bench, tmp_path / "out", Options())[0]
    groups = r.details["groups"]
    # group g<i % 3>: g0 = items 0, 3 (both right); g1 = 1, 4 (1 wrong); g2 = 2, 5 (5 wrong)
    assert sorted(groups) == ["g0", "g1", "g2"]
    assert {g: v["items"] for g, v in groups.items()} == {"g0": 2, "g1": 2, "g2": 2}
    assert {g: v["accuracy"] for g, v in groups.items()} == {"g0": 1.0, "g1": 0.5, "g2": 0.5}
    assert r.metrics["accuracy"] == pytest.approx(4 / 6)
    items = bench.items()
    outputs = [row["output"] for row in read_jsonl(r.predictions_path)]
    assert runner.group_scores(bench, items, outputs, Options()) == groups
    assert runner.group_scores(ddi_bench(tmp_path), items, outputs, Options()) == {}


def test_group_scores_skip_a_metric_with_nothing_to_score_in_a_group(tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"Q{i} Expected: answer {i} CCO"},
                          {"role": "assistant", "content": f"answer {i} CCO"}],
             "meta": {"id": f"x{i}", "category": "smiles" if i < 2 else "text"}} for i in range(4)]
    dataset = write_jsonl(tmp_path / "mixed.jsonl", rows)
    bench = benchmarks.from_dict({"dataset": str(dataset), "group_by": "category", "metrics": [
        "exact_match", {"name": "smiles_validity", "parser": "smiles", "where": {"category": "smiles"}}]},
        tmp_path / "mixed.yaml")
    r = evaluate("dummy:oracle", bench, tmp_path / "out", Options())[0]
    assert r.metrics["exact_match"] == 1.0 and r.metrics["smiles_validity"] == 1.0
    assert r.details["groups"]["smiles"]["smiles_validity"] == 1.0
    assert "smiles_validity" not in r.details["groups"]["text"]
    rows = read_jsonl(r.predictions_path)
    assert [sorted(row["scores"]) for row in rows] == [["exact_match", "smiles_validity"]] * 2 + [["exact_match"]] * 2


# -- scoring a predictions file -------------------------------------------------------------------------------------
def said(i: int, wrong=(4, 5)) -> str:
    return LABELS[(i + 1) % 2] if i in wrong else LABELS[i % 2]


def score_file(tmp_path, lines: list, **opts):
    path = tmp_path / "preds.jsonl"
    path.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines), encoding="utf-8")
    return evaluate("file:preds.jsonl", ddi_bench(tmp_path), tmp_path / "out",
                    Options(predictions_file=str(path), **opts))


def test_a_predictions_file_is_matched_by_id(tmp_path, generated):
    lines = [{"id": f"pair-{i}", "prediction": said(i)} for i in (5, 3, 1, 0, 2, 4)]
    r = score_file(tmp_path, lines)[0]
    assert generated == []
    assert r.metrics["accuracy"] == pytest.approx(4 / 6)
    rows = read_jsonl(r.predictions_path)
    assert [(row["id"], row["output"]) for row in rows] == [(f"pair-{i}", said(i)) for i in range(6)]
    # scored outputs made elsewhere compare with a model run on the same items
    model_run = evaluate("dummy:oracle", ddi_bench(tmp_path), tmp_path / "model-run", Options())[0]
    assert r.config_hash == model_run.config_hash


def test_a_predictions_file_without_ids_is_matched_by_order(tmp_path):
    r = score_file(tmp_path, [{"prediction": said(i, wrong=(0,))} for i in range(6)])[0]
    assert r.metrics["accuracy"] == pytest.approx(5 / 6)


def test_a_blank_line_does_not_shift_predictions_matched_by_order(tmp_path):
    lines = [{"prediction": said(i, wrong=())} for i in range(6)]
    r = score_file(tmp_path, lines[:3] + [""] + lines[3:])[0]
    assert r.metrics["accuracy"] == 1.0


def test_an_openai_batch_output_file_is_read(tmp_path):
    lines = [{"id": f"batch_req_{i}", "custom_id": f"pair-{i}",
              "response": {"status_code": 200, "body": {"choices": [{"message": {"role": "assistant",
                                                                                 "content": said(i, wrong=())}}]}}}
             for i in reversed(range(6))]
    for line in lines:  # the batch API's own id is not the item id: custom_id is
        del line["id"]
    r = score_file(tmp_path, lines)[0]
    assert r.metrics["accuracy"] == 1.0


@pytest.mark.parametrize("lines, message", [
    ([{"id": "pair-9", "prediction": "interaction"}], r"preds.jsonl line 1, id: 'pair-9' is not an item"),
    ([{"id": f"pair-{i}", "prediction": "interaction"} for i in range(4)],
     r"preds.jsonl: no prediction for 2 of 6 items \(first ids: pair-4, pair-5\)"),
    ([{"id": "pair-0", "prediction": "interaction"}, {"id": "pair-1", "prediction": "  "}],
     r"preds.jsonl line 2, prediction: the prediction is empty"),
    ([{"id": "pair-0", "prediction": "interaction"}, {"id": "pair-1", "answer": "x"}],
     r"preds.jsonl line 2: no prediction"),
    ([{"id": "pair-0", "prediction": "interaction"}, "{not json"], r"preds.jsonl line 2: not valid JSON"),
    ([{"custom_id": "pair-0", "response": {"body": {"choices": [{"message": {"content": ""}}]}}}],
     r"preds.jsonl line 1, response.body: the prediction is empty"),
])
def test_a_bad_predictions_file_names_the_line(tmp_path, lines, message):
    with pytest.raises(BenchmarkError, match=message):
        score_file(tmp_path, lines)


def test_a_missing_predictions_file_is_named(tmp_path):
    with pytest.raises(BenchmarkError, match="No predictions file"):
        evaluate("file:x", ddi_bench(tmp_path), tmp_path / "out", Options(predictions_file=str(tmp_path / "x.jsonl")))


def test_limit_scores_the_first_n_of_a_complete_predictions_file(tmp_path):
    r = score_file(tmp_path, [{"id": f"pair-{i}", "prediction": said(i)} for i in range(6)], limit=3)[0]
    assert r.items == 3 and r.metrics["accuracy"] == 1.0
    r = score_file(tmp_path, [{"prediction": said(i, wrong=(0, 5))} for i in range(6)], limit=3)[0]  # by order
    assert r.items == 3 and r.metrics["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(BenchmarkError, match="'pair-77' is not an item"):
        score_file(tmp_path, [{"id": f"pair-{i}", "prediction": said(i)} for i in (0, 1, 2, 77)], limit=3)
    with pytest.raises(BenchmarkError, match="line 7, id: None is not an item"):  # more lines than items
        score_file(tmp_path, [{"prediction": said(i)} for i in range(7)], limit=3)


def test_score_reports_empty_answers_and_unparseable_labels(tmp_path):
    bench = ddi_bench(tmp_path)
    items = bench.items(limit=4)
    values, details, per_item = runner.score(bench, items, ["interaction", "", "maybe", "no interaction"], Options())
    assert details["empty_answers"] == 1
    assert values["unparseable"] == 2  # a count
    assert values["accuracy"] == pytest.approx(0.5)
    assert [p["parsed"] for p in per_item] == ["interaction", None, None, "no interaction"]
