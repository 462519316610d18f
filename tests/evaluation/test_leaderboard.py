"""The leaderboard: rows in the store, the table best first, predictions worst first, comparisons, transactions."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation import benchmark as benchmarks, leaderboard
from evaluation.runner import Options, VariantResult, evaluate

LABELS = ["interaction", "no interaction"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def ddi_bench(tmp_path: Path, wrong=(), group_by=None) -> benchmarks.Benchmark:
    rows = []
    for i in range(6):
        label = LABELS[i % 2]
        said = LABELS[(i + 1) % 2] if i in wrong else label
        rows.append({"messages": [{"role": "user", "content": f"Do A{i} and B{i} interact? Expected: {said}"},
                                  {"role": "assistant", "content": label}],
                     "meta": {"id": f"pair-{i}", "label": label, "kind": "odd" if i % 2 else "even"}})
    spec = {"name": "tiny-ddi", "dataset": str(write_jsonl(tmp_path / "pairs.jsonl", rows)), "reference": "label",
            "parser": "label", "labels": LABELS, "metrics": ["classification"], "group_by": group_by}
    return benchmarks.from_dict(spec, tmp_path / "tiny-ddi.yaml")


def result(model="dummy:a", benchmark="ddi-binary", variant="default", items=10, **metrics) -> VariantResult:
    return VariantResult(model, benchmark, variant, metrics, {}, items, "hash0123", "")


# -- rows --------------------------------------------------------------------------------------------------------
def test_an_evaluation_lands_with_all_its_fields(isolated_runs, tmp_path):
    bench = ddi_bench(tmp_path, wrong=(0,))
    results = evaluate("dummy:oracle", bench, tmp_path / "out", Options())
    (row_id,) = leaderboard.add(results, "eval-1")
    row = leaderboard.get(row_id)
    assert (row.model, row.base_model, row.method, row.run_id) == ("dummy:oracle", "dummy:oracle", "base", "eval-1")
    assert (row.benchmark, row.variant, row.items) == ("tiny-ddi", "default", 6)
    assert row.config_hash == results[0].config_hash
    assert row.metrics == results[0].metrics and row.metrics["accuracy"] == pytest.approx(5 / 6)
    assert row.details["confusion_matrix"] == results[0].details["confusion_matrix"]
    assert row.predictions_path == results[0].predictions_path
    assert row.created is not None
    assert [r.id for r in leaderboard.rows()] == [row_id]
    assert leaderboard.benchmarks() == ["tiny-ddi"]


def test_nan_and_infinities_are_stored_as_null(isolated_runs):
    r = result(accuracy=float("nan"), f1=0.5, mcc=float("inf"))
    r.details = {"per_class": [float("-inf"), 1.0], "path": Path("/x")}
    (row_id,) = leaderboard.add([r], None)
    row = leaderboard.get(row_id)
    assert row.metrics == {"accuracy": None, "f1": 0.5, "mcc": None}
    assert row.details == {"per_class": [None, 1.0], "path": "/x"}


def test_text_containing_nan_is_stored_as_is(isolated_runs):
    r = result(accuracy=0.5)
    r.details = {"judge": "hf:local_models/NaNoLM", "groups": {"NaN-free": {"items": 1, "accuracy": 0.5}}}
    (row_id,) = leaderboard.add([r], None)
    assert leaderboard.get(row_id).details == r.details


@pytest.mark.parametrize("ref, expected", [
    ("dummy:echo", ("dummy:echo", "base")),
    ("hf:/models/tiny", ("hf:/models/tiny", "base")),
    ("openai:ft:gpt-4o-mini-2024-07-18:acme::abc123", ("openai:gpt-4o-mini-2024-07-18", "openai-ft")),
    ("openai:gpt-4o-mini", ("openai:gpt-4o-mini", "base")),
    ("file:preds.jsonl", ("file:preds.jsonl", "predictions")),
    ("run:absent-run", ("run:absent-run", "fine-tuned")),
])
def test_describe_model(ref, expected, isolated_runs):
    assert leaderboard.describe_model(ref) == expected


@pytest.mark.parametrize("method, expected", [({"name": "lora", "r": 8}, "lora"), ("full", "full"), (None, "fine-tuned")])
def test_describe_model_reads_a_training_runs_config(method, expected, isolated_runs):
    (isolated_runs / "train-1").mkdir()
    spec = {"model": "builtin:smollm2-135m-instruct", **({"method": method} if method else {})}
    (isolated_runs / "train-1" / "config.yaml").write_text(json.dumps(spec), encoding="utf-8")
    assert leaderboard.describe_model("run:train-1") == ("builtin:smollm2-135m-instruct", expected)


# -- the table ------------------------------------------------------------------------------------------------------
def test_the_table_is_best_first_with_arrowed_columns(isolated_runs):
    leaderboard.add([result("dummy:mid", accuracy=0.5, f1=0.9)], "r1")
    leaderboard.add([result("dummy:best", accuracy=0.75, f1=0.1)], "r2")
    leaderboard.add([result("dummy:none", accuracy=None, f1=0.2)], "r3")
    leaderboard.add([result("dummy:worst", accuracy=0.25, f1=0.3)], "r4")
    frame = leaderboard.table("ddi-binary")
    assert list(frame["model"]) == ["dummy:best", "dummy:mid", "dummy:worst", "dummy:none"]
    # registry order for a shipped benchmark: the classification outputs, accuracy first
    metric_columns = [c for c in frame.columns if c.endswith(("↑", "↓"))]
    assert metric_columns == ["accuracy ↑", "precision ↑", "recall ↑", "f1 ↑", "mcc ↑", "unparseable ↓"]
    assert list(frame["accuracy ↑"])[:3] == [0.75, 0.5, 0.25]
    assert list(frame["run"]) == ["r2", "r1", "r4", "r3"]
    assert {"id", "model", "method", "benchmark", "variant", "items", "cost $", "date", "run", "config"} <= set(frame)


def test_an_error_column_sorts_lowest_first(isolated_runs):
    for model, value in [("dummy:b", 0.8), ("dummy:a", 0.3), ("dummy:c", 1.2)]:
        leaderboard.add([result(model, benchmark="solubility", rmse=value, mae=value / 2, r2=1 - value)], None)
    frame = leaderboard.table("solubility")
    assert list(frame.columns[5:9]) == ["rmse ↓", "mae ↓", "r2 ↑", "unparsed_numbers ↓"]
    assert list(frame["model"]) == ["dummy:a", "dummy:b", "dummy:c"]
    assert list(frame["rmse ↓"]) == [0.3, 0.8, 1.2]


def test_a_custom_benchmarks_table_uses_the_rows_own_metrics(isolated_runs):
    leaderboard.add([result("dummy:x", benchmark="my-own", rmse=2.0)], None)
    leaderboard.add([result("dummy:y", benchmark="my-own", rmse=1.0)], None)
    frame = leaderboard.table("my-own")
    assert [c for c in frame.columns if "rmse" in c] == ["rmse ↓"]
    assert list(frame["model"]) == ["dummy:y", "dummy:x"]


def test_filters_by_benchmark_model_and_method(isolated_runs):
    leaderboard.add([result("dummy:Alpha", accuracy=0.5)], None)
    leaderboard.add([result("dummy:beta", accuracy=0.6)], None)
    leaderboard.add([result("file:alpha.jsonl", accuracy=0.7)], None)
    leaderboard.add([result("dummy:alpha", benchmark="ddi-severity", accuracy=0.8)], None)
    assert set(leaderboard.table("ddi-binary")["model"]) == {"dummy:Alpha", "dummy:beta", "file:alpha.jsonl"}
    assert list(leaderboard.table("ddi-binary", model="ALPHA")["model"]) == ["file:alpha.jsonl", "dummy:Alpha"]
    assert list(leaderboard.table(None, method="predictions")["model"]) == ["file:alpha.jsonl"]
    assert list(leaderboard.table("ddi-severity", model="alpha", method="base")["model"]) == ["dummy:alpha"]
    assert len(leaderboard.table()) == 4
    assert leaderboard.table("ddi-binary", model="gamma").empty
    assert leaderboard.benchmarks() == ["ddi-binary", "ddi-severity"]


def test_an_empty_leaderboard_has_its_columns(isolated_runs):
    frame = leaderboard.table("ddi-binary")
    assert frame.empty and "accuracy ↑" in frame.columns and "model" in frame.columns


# -- predictions ----------------------------------------------------------------------------------------------------
def test_predictions_are_worst_first(isolated_runs, tmp_path):
    results = evaluate("dummy:oracle", ddi_bench(tmp_path, wrong=(2, 4)), tmp_path / "out", Options())
    (row_id,) = leaderboard.add(results, None)
    frame = leaderboard.predictions(row_id)
    assert list(frame["id"]) == ["pair-2", "pair-4", "pair-0", "pair-1", "pair-3", "pair-5"]
    assert list(frame["accuracy ↑"]) == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    assert list(frame.loc[:1, "output"]) == ["no interaction", "no interaction"]
    assert list(frame.loc[:1, "reference"]) == ["interaction", "interaction"]
    assert list(frame.loc[:1, "parsed"]) == ["no interaction", "no interaction"]


def test_predictions_of_an_error_metric_are_largest_error_first(isolated_runs, tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"Value {i}? Expected: {s}"},
                          {"role": "assistant", "content": str(v)}], "meta": {"id": f"c{i}", "label": v}}
            for i, (v, s) in enumerate([(1.0, 1.5), (2.0, 5.0), (3.0, 3.0), (4.0, "none")])]
    spec = {"name": "tiny-numbers", "dataset": str(write_jsonl(tmp_path / "n.jsonl", rows)), "reference": "label",
            "parser": "number", "metrics": ["regression"]}
    results = evaluate("dummy:oracle", benchmarks.from_dict(spec, tmp_path / "n.yaml"), tmp_path / "out", Options())
    (row_id,) = leaderboard.add(results, None)
    frame = leaderboard.predictions(row_id)
    # an answer without a number has no error: it comes first (worst), then the largest errors
    assert list(frame["id"]) == ["c3", "c1", "c0", "c2"]
    assert list(frame["rmse ↓"])[1:] == [3.0, 0.5, 0.0]


def test_predictions_of_one_variant_only_and_of_an_unknown_row(isolated_runs, tmp_path):
    results = evaluate("dummy:oracle", ddi_bench(tmp_path), tmp_path / "out", Options())
    first = results[0]
    other = VariantResult(first.model, first.benchmark, "other", first.metrics, {}, 6, first.config_hash,
                          first.predictions_path)
    ids = leaderboard.add([first, other], None)
    assert len(leaderboard.predictions(ids[0])) == 6
    assert leaderboard.predictions(ids[1]).empty  # no line of that variant in the file
    with pytest.raises(KeyError, match="No leaderboard row 999"):
        leaderboard.predictions(999)


def test_predictions_of_a_row_whose_file_is_gone(isolated_runs, tmp_path):
    (row_id,) = leaderboard.add([VariantResult("m", "b", "default", {"accuracy": 1.0}, {}, 1, "h",
                                               str(tmp_path / "gone.jsonl"))], None)
    frame = leaderboard.predictions(row_id)
    assert frame.empty and "output" in frame.columns


# -- comparisons ----------------------------------------------------------------------------------------------------
def test_compare_gives_deltas_and_the_better_side_by_direction(isolated_runs):
    import pandas as pd

    a, = leaderboard.add([result("dummy:base", accuracy=0.5, rmse=2.0, f1=0.4, custom=1.0)], None)
    b, = leaderboard.add([result("dummy:tuned", accuracy=0.75, rmse=1.5, f1=0.4, custom=3.0, mcc=0.2)], None)
    frame = leaderboard.compare(a, b)
    assert list(frame.columns) == ["metric", "a: dummy:base", "b: dummy:tuned", "delta (b − a)", "better"]
    by_metric = {r["metric"]: r for r in frame.to_dict("records")}
    assert list(by_metric) == ["accuracy ↑", "rmse ↓", "f1 ↑", "custom", "mcc ↑"]
    assert by_metric["accuracy ↑"]["delta (b − a)"] == 0.25 and by_metric["accuracy ↑"]["better"] == "b"
    assert by_metric["rmse ↓"]["delta (b − a)"] == -0.5 and by_metric["rmse ↓"]["better"] == "b"
    assert by_metric["f1 ↑"]["delta (b − a)"] == 0 and by_metric["f1 ↑"]["better"] == ""
    assert by_metric["custom"]["delta (b − a)"] == 2.0 and by_metric["custom"]["better"] == ""  # no direction
    assert pd.isna(by_metric["mcc ↑"]["delta (b − a)"]) and by_metric["mcc ↑"]["better"] == ""
    reverse = {r["metric"]: r for r in leaderboard.compare(b, a).to_dict("records")}
    assert reverse["accuracy ↑"]["better"] == "a" and reverse["rmse ↓"]["better"] == "a"
    assert reverse["rmse ↓"]["delta (b − a)"] == 0.5
    with pytest.raises(KeyError, match="No leaderboard row 12345"):
        leaderboard.compare(a, 12345)


def test_compare_groups_per_task_type(isolated_runs, tmp_path):
    base = evaluate("dummy:oracle", ddi_bench(tmp_path, wrong=(0, 1, 3), group_by="kind"), tmp_path / "a", Options())
    tuned = evaluate("dummy:oracle", ddi_bench(tmp_path, wrong=(1,), group_by="kind"), tmp_path / "b", Options())
    (a,) = leaderboard.add(base, None)
    (b,) = leaderboard.add(tuned, None)
    frame = leaderboard.compare_groups(a, b, "accuracy")
    records = frame.to_dict("records")
    # even: items 0, 2, 4; odd: 1, 3, 5
    assert [(r["task type"], r["metric"]) for r in records] == [("even", "accuracy ↑"), ("odd", "accuracy ↑")]
    assert records[0]["improvement"] == pytest.approx(round(1.0 - 2 / 3, 4))
    assert records[1]["improvement"] == pytest.approx(round(2 / 3 - 1 / 3, 4))
    everything = leaderboard.compare_groups(a, b)
    assert set(everything["metric"]) == {"accuracy ↑", "precision ↑", "recall ↑", "f1 ↑", "mcc ↑", "unparseable ↓"}
    assert len(everything) == 12
    plain, = leaderboard.add([result(accuracy=0.1)], None)
    assert leaderboard.compare_groups(plain, plain).empty


def test_compare_groups_of_an_unknown_row_is_a_key_error(isolated_runs):
    plain, = leaderboard.add([result(accuracy=0.1)], None)
    with pytest.raises(KeyError, match="No leaderboard row 4242"):
        leaderboard.compare_groups(plain, 4242)


# -- transactions and the store -------------------------------------------------------------------------------------
def test_one_evaluations_rows_land_together_or_not_at_all(isolated_runs, monkeypatch):
    original = leaderboard.describe_model
    calls = []

    def failing_on_the_second(ref):
        calls.append(ref)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return original(ref)

    monkeypatch.setattr(leaderboard, "describe_model", failing_on_the_second)
    with pytest.raises(RuntimeError, match="went away"):
        leaderboard.add([result(variant="v1", accuracy=0.5), result(variant="v2", accuracy=0.6),
                         result(variant="v3", accuracy=0.7)], "run-x")
    assert leaderboard.rows() == []


def test_a_row_the_database_refuses_rolls_back_the_others(isolated_runs):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        leaderboard.add([result(variant="v1", accuracy=0.5), result(variant="v2", items=None, accuracy=0.6)], "r")
    assert leaderboard.rows() == []
    assert len(leaderboard.add([result(variant="v1", accuracy=0.5)], "r")) == 1  # the store still works


def test_a_second_store_url_gets_its_tables_on_first_use(isolated_runs, tmp_path, monkeypatch):
    import sqlalchemy

    import store

    other = tmp_path / "team" / "shared.sqlite"
    monkeypatch.setenv("PHARMATUNE_STORE_URL", f"sqlite:///{other}")
    assert not other.exists()
    (row_id,) = leaderboard.add([result("dummy:team", accuracy=0.9)], "team-run")
    assert other.is_file()
    tables = set(sqlalchemy.inspect(store.engine(f"sqlite:///{other}")).get_table_names())
    assert {"runs", "eval_results"} <= tables
    assert [r.model for r in leaderboard.rows()] == ["dummy:team"]
    with store.session(f"sqlite:///{other}") as s:
        from store.tables import EvalResult

        assert s.get(EvalResult, row_id).run_id == "team-run"
    monkeypatch.delenv("PHARMATUNE_STORE_URL")
    assert leaderboard.rows() == []  # the default store (in the runs folder) is a different database
    assert (isolated_runs / "pharmatune.sqlite").is_file()


def test_a_session_is_a_transaction(isolated_runs):
    import store
    from store.tables import Run

    with pytest.raises(ValueError):
        with store.session() as s:
            s.add(Run(id="r1", kind="evaluation", directory="/x"))
            s.flush()
            raise ValueError("stop")
    with store.session() as s:
        assert s.get(Run, "r1") is None
        s.add(Run(id="r2", kind="evaluation", directory="/x"))
    with store.session() as s:
        assert s.get(Run, "r2").status == "queued"


def test_compare_groups_of_one_model_twice_keeps_both_scores(isolated_runs, tmp_path):
    first = evaluate("dummy:oracle", ddi_bench(tmp_path, wrong=(0, 1, 3), group_by="kind"), tmp_path / "a", Options())
    second = evaluate("dummy:oracle", ddi_bench(tmp_path, wrong=(1,), group_by="kind"), tmp_path / "b", Options())
    (a,) = leaderboard.add(first, None)
    (b,) = leaderboard.add(second, None)
    records = leaderboard.compare_groups(a, b, "accuracy").to_dict("records")
    assert records[0]["a: dummy:oracle"] == pytest.approx(2 / 3) and records[0]["b: dummy:oracle"] == 1.0
