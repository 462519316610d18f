"""python -m evaluation: run (JSON summary last on stdout), list, leaderboard, compare; exit codes; EvalConfig."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evaluation import leaderboard
from evaluation.__main__ import main
from evaluation.config import ConfigError, EvalConfig

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["interaction", "no interaction"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def ddi_rows(n=6, wrong=(), fail_at=None) -> list[dict]:
    rows = []
    for i in range(n):
        label = LABELS[i % 2]
        said = LABELS[(i + 1) % 2] if i in wrong else label
        marker = " FAIL" if i == fail_at else ""
        rows.append({"messages": [{"role": "user", "content": f"Do A{i} and B{i} interact?{marker} Expected: {said}"},
                                  {"role": "assistant", "content": label}],
                     "meta": {"id": f"pair-{i}", "label": label, "kind": "odd" if i % 2 else "even"}})
    return rows


def marker_rows(n: int = 6, fail_at: int | None = 4) -> list[dict]:
    """Prompts of one length (the runner batches similar lengths together), so batches follow the item order."""
    return [{"messages": [{"role": "user", "content": f"Question {i} {'FAIL' if i == fail_at else 'PASS'} Expected: a{i}"},
                          {"role": "assistant", "content": f"a{i}"}], "meta": {"id": f"q{i}"}} for i in range(n)]


def write_bench(tmp_path: Path, name="tiny-ddi", rows=None, **fields) -> Path:
    dataset = write_jsonl(tmp_path / f"{name}.jsonl", rows if rows is not None else ddi_rows())
    spec = {"name": name, "dataset": str(dataset), "reference": "label", "parser": "label", "labels": LABELS,
            "metrics": ["classification"], "generation": {"max_new_tokens": 8}, **fields}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def last_json(stdout: str) -> dict:
    """The JSON summary that ends stdout (pretty-printed: it starts at the last line that is just '{')."""
    lines = stdout.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    return json.loads("\n".join(lines[start:]))


def run_cli(capsys, *argv) -> tuple[int, dict | None, str, str]:
    code = main(["run", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, (last_json(out) if out.strip() else None), out, err


def run_record(run_id: str):
    import jobs

    return jobs.get(run_id)


# -- run ---------------------------------------------------------------------------------------------------------
def test_run_in_a_subprocess_prints_the_json_summary_last(isolated_runs, tmp_path):
    bench = write_bench(tmp_path, rows=ddi_rows(6, wrong=(1,)))
    out_dir = tmp_path / "eval-sub"
    env = {**os.environ, "PHARMATUNE_RUNS": str(isolated_runs)}
    proc = subprocess.run([sys.executable, "-m", "evaluation", "run", "--model", "dummy:oracle", "--benchmark",
                           str(bench), "--limit", "3", "--out", str(out_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("}")
    summary = last_json(proc.stdout)
    assert summary["run"] == "eval-sub" and summary["skipped"] == []
    (entry,) = summary["results"]
    assert (entry["model"], entry["benchmark"], entry["variant"], entry["items"]) == ("dummy:oracle", "tiny-ddi",
                                                                                      "default", 3)
    assert entry["metrics"]["accuracy"] == pytest.approx(2 / 3)
    assert "3/3" in proc.stderr  # progress goes to stderr
    # the child wrote to the store this process reads (PHARMATUNE_RUNS inherited)
    row = leaderboard.get(entry["leaderboard_id"])
    assert row.run_id == "eval-sub" and row.config_hash == entry["config_hash"]
    assert run_record("eval-sub").status == "done"
    assert EvalConfig.from_yaml(out_dir / "config.yaml") == EvalConfig(models=["dummy:oracle"], benchmarks=[str(bench)],
                                                                       limit=3)
    events = [json.loads(line) for line in (out_dir / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "status" and events[-1]["status"] == "done"
    assert [e["event"] for e in events].count("result") == 1


def test_run_in_process_records_the_run_and_the_row(isolated_runs, tmp_path, capsys):
    bench = write_bench(tmp_path)
    code, summary, out, err = run_cli(capsys, "--model", "dummy:oracle", "--model", "dummy:interaction",
                                      "--benchmark", bench, "--out", tmp_path / "two")
    assert code == 0
    assert [(r["model"], r["metrics"]["accuracy"]) for r in summary["results"]] == [("dummy:oracle", 1.0),
                                                                                    ("dummy:interaction", 0.5)]
    assert "[status] status=done" in err
    rows = leaderboard.rows()
    assert {r.model for r in rows} == {"dummy:oracle", "dummy:interaction"} and {r.run_id for r in rows} == {"two"}
    assert (tmp_path / "two" / "dummy_oracle__tiny-ddi" / "predictions.jsonl").is_file()
    assert run_record("two").status == "done" and run_record("two").finished is not None


def test_quiet_and_no_leaderboard(isolated_runs, tmp_path, capsys):
    code, summary, _, err = run_cli(capsys, "--model", "dummy:oracle", "--benchmark", write_bench(tmp_path),
                                    "--out", tmp_path / "q", "--quiet", "--no-leaderboard")
    assert code == 0 and err == ""
    assert summary["results"][0]["leaderboard_id"] is None
    assert leaderboard.rows() == []


def test_run_from_a_config_file(isolated_runs, tmp_path, capsys):
    config = EvalConfig(models=["dummy:oracle"], benchmarks=[str(write_bench(tmp_path))], limit=2, batch_size=1)
    path = tmp_path / "config.yaml"
    path.write_text(config.to_yaml(), encoding="utf-8")
    code, summary, _, _ = run_cli(capsys, "--config", path, "--run-dir", tmp_path / "from-config")
    assert code == 0 and summary["results"][0]["items"] == 2
    assert not (tmp_path / "from-config" / "config.yaml").exists()  # the given config is the record


def test_run_without_out_makes_a_run_folder(isolated_runs, tmp_path, capsys):
    code, summary, _, _ = run_cli(capsys, "--model", "dummy:oracle", "--benchmark", write_bench(tmp_path))
    assert code == 0
    assert summary["run"].startswith("eval-")
    assert (isolated_runs / summary["run"] / "config.yaml").is_file()
    assert (isolated_runs / summary["run"] / "events.jsonl").is_file()


def test_a_shared_benchmark_without_its_data_is_skipped_not_failed(isolated_runs, tmp_path, capsys, monkeypatch):
    empty = tmp_path / "no-shared"
    empty.mkdir()
    monkeypatch.setenv("PHARMATUNE_SHARED_DATA", str(empty))
    code, summary, _, err = run_cli(capsys, "--model", "dummy:interaction", "--benchmark", "ddi-binary-shared",
                                    "--out", tmp_path / "skip")
    assert code == 0
    assert summary["results"] == []
    (skipped,) = summary["skipped"]
    assert skipped["model"] == "dummy:interaction" and skipped["benchmark"] == "ddi-binary-shared"
    assert str(empty / "ddi") in skipped["reason"]
    assert "[skipped]" in err
    events = [json.loads(line) for line in (tmp_path / "skip" / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "skipped" and e["benchmark"] == "ddi-binary-shared" for e in events)
    assert run_record("skip").status == "done"
    assert leaderboard.rows() == []


# -- failures ------------------------------------------------------------------------------------------------------
BAD = {
    "missing dataset": ({"dataset": None}, "'dataset' is missing"),
    "missing metrics": ({"metrics": None}, "'metrics' is missing"),
    "unknown field": ({"metricz": ["classification"]}, "Did you mean 'metrics'"),
    "unknown metric": ({"metrics": ["acuracy"]}, "Unknown metric 'acuracy'"),
    "kind mismatch": ({"metrics": ["token_f1"]}, "token_f1 reads text answers but the parser gives label"),
    "metric input not mapped": ({"parser": "text", "metrics": ["keyword_recall"]}, "inputs: keyword_recall needs"),
    "unknown prompt": ({"prompt": "ddi.nothing"}, "prompt 'ddi.nothing'"),
    "bad generation setting": ({"generation": {"max_length": 3}}, "generation"),
    "bad generation value": ({"generation": {"max_new_tokens": 0}}, "generation: max_new_tokens must be at least 1"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_benchmark_fails_the_run_with_the_file_and_field_and_no_row(case, isolated_runs, tmp_path, capsys):
    change, text = BAD[case]
    path = write_bench(tmp_path)
    spec = {k: v for k, v in {**yaml.safe_load(path.read_text()), **change}.items() if v is not None}
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    code, summary, _, err = run_cli(capsys, "--model", "dummy:oracle", "--benchmark", path, "--out", tmp_path / "bad")
    assert code == 1
    assert str(path) in summary["error"] and text in summary["error"]
    assert f"error: {summary['error']}" in err
    assert leaderboard.rows() == []
    assert run_record("bad").status == "failed" and run_record("bad").error == summary["error"]


def test_invalid_yaml_fails_the_run(isolated_runs, tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("name: tiny\nmetrics: [classification\n", encoding="utf-8")
    code, summary, _, _ = run_cli(capsys, "--model", "dummy:oracle", "--benchmark", path, "--out", tmp_path / "bad")
    assert code == 1 and "not valid YAML" in summary["error"] and str(path) in summary["error"]
    assert leaderboard.rows() == []


def test_a_dataset_that_fails_validation_fails_the_run_with_the_line(isolated_runs, tmp_path, capsys):
    path = write_bench(tmp_path)
    dataset = tmp_path / "tiny-ddi.jsonl"
    lines = dataset.read_text().splitlines()
    lines[3] = lines[3][:20]  # a line cut short
    dataset.write_text("\n".join(lines) + "\n")
    code, summary, _, _ = run_cli(capsys, "--model", "dummy:oracle", "--benchmark", path, "--out", tmp_path / "bad")
    assert code == 1
    assert "failed validation" in summary["error"] and "tiny-ddi.jsonl" in summary["error"]
    assert "line 4" in summary["error"]
    assert leaderboard.rows() == []


def test_a_model_that_fails_mid_run_fails_the_run_and_a_fixed_dataset_resumes(isolated_runs, tmp_path, capsys,
                                                                               monkeypatch):
    from models.dummy import DummyChatModel

    path = write_bench(tmp_path, rows=marker_rows(fail_at=4), parser="text", metrics=["exact_match"],
                       reference="answer")
    out = tmp_path / "eval-fail"
    argv = ["--model", "dummy:fail-on-marker", "--benchmark", path, "--batch-size", 2, "--out", out]
    code, summary, _, err = run_cli(capsys, *argv)
    assert code == 1
    assert "at item 5" in summary["error"] and "The 4 finished items are kept" in summary["error"]
    assert f"error: {summary['error']}" in err
    predictions = out / "dummy_fail-on-marker__tiny-ddi" / "predictions.jsonl"
    assert [json.loads(line)["index"] for line in predictions.read_text().splitlines()] == [0, 1, 2, 3]
    assert run_record("eval-fail").status == "failed"
    assert leaderboard.rows() == []

    asked = []
    original = DummyChatModel.generate
    monkeypatch.setattr(DummyChatModel, "generate",
                        lambda self, convs, params: asked.extend(c[-1]["content"] for c in convs)
                        or original(self, convs, params))
    write_jsonl(tmp_path / "tiny-ddi.jsonl", marker_rows(fail_at=None))  # fixed in place
    code, summary, _, err = run_cli(capsys, *argv)
    assert code == 0, summary
    assert sorted(asked) == ["Question 4 PASS Expected: a4", "Question 5 PASS Expected: a5"]
    assert "[resume_items] items=4" in err
    assert summary["results"][0]["items"] == 6
    assert len(predictions.read_text().splitlines()) == 6
    assert [r.run_id for r in leaderboard.rows()] == ["eval-fail"]
    assert run_record("eval-fail").status == "done"


def test_rerunning_the_same_interrupted_command_continues_it_without_out(isolated_runs, tmp_path, capsys):
    """No --out: the second run of the very same command finds the first, unfinished, and continues it."""
    path = write_bench(tmp_path, rows=marker_rows(fail_at=4), parser="text", metrics=["exact_match"],
                       reference="answer")
    argv = ["--model", "dummy:fail-on-marker", "--benchmark", path, "--batch-size", 2]
    code, first, _, err = run_cli(capsys, *argv)
    assert code == 1 and "Run the same command again to continue" in err
    write_jsonl(tmp_path / "tiny-ddi.jsonl", marker_rows(fail_at=None))  # fixed in place
    code, second, _, err = run_cli(capsys, *argv)
    assert code == 0, second
    assert second["run"] == first["run"] and f"[resume] {first['run']} ran this same configuration" in err
    assert "[resume_items] items=4" in err and second["results"][0]["items"] == 6
    code, third, _, err = run_cli(capsys, *argv)  # a finished run is not reopened: a new run
    assert code == 0 and third["run"] != first["run"] and "[resume]" not in err


def test_a_resumed_run_that_succeeds_carries_no_old_error(isolated_runs, tmp_path, capsys):
    path = write_bench(tmp_path, rows=ddi_rows(4, fail_at=3))
    argv = ["--model", "dummy:fail-on-marker", "--benchmark", path, "--batch-size", 2, "--out", tmp_path / "again"]
    assert run_cli(capsys, *argv)[0] == 1
    write_jsonl(tmp_path / "tiny-ddi.jsonl", ddi_rows(4))
    assert run_cli(capsys, *argv)[0] == 0
    record = run_record("again")
    assert record.status == "done" and record.error is None


def test_a_model_that_fails_to_load_fails_the_run(isolated_runs, tmp_path, capsys):
    code, summary, _, _ = run_cli(capsys, "--model", "dummy:fail-load", "--benchmark", write_bench(tmp_path),
                                  "--out", tmp_path / "noload")
    assert code == 1 and "fail-load" in summary["error"]
    assert run_record("noload").status == "failed" and leaderboard.rows() == []


# -- predictions files ---------------------------------------------------------------------------------------------
def test_scoring_a_predictions_file(isolated_runs, tmp_path, capsys):
    preds = write_jsonl(tmp_path / "outputs.jsonl", [{"id": f"pair-{i}", "prediction": LABELS[0]} for i in range(6)])
    code, summary, _, _ = run_cli(capsys, "--predictions", preds, "--benchmark", write_bench(tmp_path),
                                  "--out", tmp_path / "scored")
    assert code == 0
    entry = summary["results"][0]
    assert entry["model"] == "file:outputs.jsonl" and entry["metrics"]["accuracy"] == 0.5
    row = leaderboard.get(entry["leaderboard_id"])
    assert (row.method, row.base_model) == ("predictions", "file:outputs.jsonl")


def test_an_empty_prediction_fails_with_its_line(isolated_runs, tmp_path, capsys):
    rows = [{"id": f"pair-{i}", "prediction": LABELS[0]} for i in range(6)]
    rows[2]["prediction"] = ""
    preds = write_jsonl(tmp_path / "outputs.jsonl", rows)
    code, summary, _, _ = run_cli(capsys, "--predictions", preds, "--benchmark", write_bench(tmp_path),
                                  "--out", tmp_path / "scored")
    assert code == 1
    assert "outputs.jsonl line 3, prediction: the prediction is empty" in summary["error"]
    assert leaderboard.rows() == []


# -- robustness in the summary ---------------------------------------------------------------------------------------
@pytest.fixture
def variant_bench(tmp_path, monkeypatch) -> Path:
    import prompts

    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "clitest.yaml").write_text("plain:\n  user: \"{question}\"\nsays:\n  user: \"{question} Expected: "
                                         "{label}\"\n", encoding="utf-8")
    monkeypatch.setattr(prompts, "HERE", folder)
    rows = [{**r, "messages": [{"role": "user", "content": f"Pair {i}?"}, r["messages"][1]]}
            for i, r in enumerate(ddi_rows(4))]
    return write_bench(tmp_path, name="variants", rows=rows, prompt="clitest.plain",
                       variants=[{"name": "plain", "prompt": "clitest.plain"}, {"name": "says", "prompt": "clitest.says"}])


def test_the_summary_carries_robustness_across_variants(isolated_runs, tmp_path, capsys, variant_bench):
    code, summary, _, _ = run_cli(capsys, "--model", "dummy:oracle", "--benchmark", variant_bench,
                                  "--out", tmp_path / "rob")
    assert code == 0
    assert [(r["variant"], r["metrics"]["accuracy"]) for r in summary["results"]] == [("plain", 0.0), ("says", 1.0)]
    spread = summary["robustness"]["dummy:oracle / variants"]
    assert spread["accuracy"]["mean"] == 0.5 and spread["accuracy"]["std"] == pytest.approx(0.5 ** 0.5)
    assert len(leaderboard.rows()) == 2
    code, summary, _, _ = run_cli(capsys, "--model", "dummy:oracle", "--benchmark", variant_bench, "--variant", "says",
                                  "--out", tmp_path / "one")
    assert [r["variant"] for r in summary["results"]] == ["says"] and "robustness" not in summary


def test_the_summary_keeps_the_robustness_of_every_model(isolated_runs, tmp_path, capsys, variant_bench):
    code, summary, _, _ = run_cli(capsys, "--model", "dummy:oracle", "--model", "dummy:interaction", "--benchmark",
                                  variant_bench, "--out", tmp_path / "rob2")
    assert code == 0
    assert set(summary["robustness"]) == {"dummy:oracle / variants", "dummy:interaction / variants"}


# -- usage errors ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, text", [
    (["run"], "give --model"),
    (["run", "--model", "dummy:oracle"], "at least one benchmark"),
    (["run", "--model", "dummy:oracle", "--benchmark", "ddi-binary", "--limit", "0"], "limit must be at least 1"),
    (["run", "--model", "dummy:oracle", "--benchmark", "ddi-binary", "--batch-size", "0"], "batch_size"),
    (["run", "--model", "a:b", "--model", "c:d", "--benchmark", "ddi-binary", "--predictions", "p.jsonl"],
     "one benchmark under one model"),
    (["run", "--config", "/nonexistent/config.yaml"], "cannot read the config"),
])
def test_usage_errors_exit_2(argv, text, isolated_runs, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert text in err and out == ""
    import jobs

    assert jobs.list_runs() == []


@pytest.mark.parametrize("argv", [[], ["nonsense"], ["run", "--limit", "three"], ["compare", "1"],
                                  ["compare", "a", "b"]])
def test_argparse_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_a_config_file_with_an_unknown_field_exits_2(isolated_runs, tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("models: [dummy:oracle]\nbenchmarks: [ddi-binary]\nbatchsize: 2\n", encoding="utf-8")
    assert main(["run", "--config", str(path)]) == 2
    assert "unknown field 'batchsize'. Did you mean 'batch_size'?" in capsys.readouterr().err


# -- list, leaderboard, compare ------------------------------------------------------------------------------------
def test_list_shows_benchmarks_and_metrics_with_arrows(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_SHARED_DATA", str(tmp_path / "none"))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    from evaluation import benchmark as benchmarks

    listed = {line.split()[0] for line in out.split("Metrics")[0].splitlines()[1:] if line.strip()}
    assert listed == set(benchmarks.names())
    assert "[broken]" not in out
    assert "ddi-binary-shared" in out and "[unavailable: " in out
    assert "outputs: accuracy ↑, precision ↑, recall ↑, f1 ↑, mcc ↑, unparseable ↓" in out
    assert "rmse ↓" in out and "r2 ↑" in out
    assert "bertscore" in out and "[heavy]" in out


def _add(model, benchmark="ddi-binary", details=None, **metrics):
    from evaluation.runner import VariantResult

    return leaderboard.add([VariantResult(model, benchmark, "default", metrics, details or {}, 5, "h", "")], None)[0]


def test_leaderboard_csv_and_print(isolated_runs, tmp_path, capsys):
    assert main(["leaderboard"]) == 0
    assert "The leaderboard is empty." in capsys.readouterr().out
    _add("dummy:low", accuracy=0.2)
    _add("dummy:high", accuracy=0.9)
    _add("dummy:other", benchmark="solubility", rmse=1.0)
    target = tmp_path / "board.csv"
    assert main(["leaderboard", "--benchmark", "ddi-binary", "--csv", str(target)]) == 0
    assert "wrote 2 rows" in capsys.readouterr().err
    with open(target, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model"] for r in rows] == ["dummy:high", "dummy:low"]
    assert rows[0]["accuracy ↑"] == "0.9"
    assert main(["leaderboard", "--model", "other"]) == 0
    out = capsys.readouterr().out
    assert "dummy:other" in out and "dummy:high" not in out and "rmse ↓" in out


def test_compare_two_rows_and_their_groups(isolated_runs, capsys):
    groups_a = {"even": {"items": 3, "accuracy": 0.5}, "odd": {"items": 3, "accuracy": 1.0}}
    groups_b = {"even": {"items": 3, "accuracy": 0.75}, "odd": {"items": 3, "accuracy": 1.0}}
    a = _add("dummy:base", accuracy=0.5, details={"groups": groups_a})
    b = _add("dummy:tuned", accuracy=0.8, details={"groups": groups_b})
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "delta (b − a)" in out and "accuracy ↑" in out and "0.3" in out
    assert "Per task type:" in out and "even" in out and "0.25" in out
    c = _add("dummy:plain", accuracy=0.1)
    d = _add("dummy:plain2", accuracy=0.2)
    assert main(["compare", str(c), str(d)]) == 0
    assert "Per task type:" not in capsys.readouterr().out


def test_compare_an_unknown_row_exits_2(isolated_runs, capsys):
    a = _add("dummy:base", accuracy=0.5)
    assert main(["compare", str(a), "777"]) == 2
    assert "No leaderboard row 777" in capsys.readouterr().err


# -- EvalConfig ------------------------------------------------------------------------------------------------------
def test_eval_config_round_trips_through_yaml(tmp_path):
    config = EvalConfig(models=["dummy:oracle", "hf:/m"], benchmarks=["ddi-binary"], limit=5, batch_size=2,
                        variants=["original"], judge="dummy:judge", leaderboard=False)
    path = tmp_path / "config.yaml"
    path.write_text(config.to_yaml(), encoding="utf-8")
    assert EvalConfig.from_yaml(path) == config
    assert EvalConfig(models="dummy:oracle", benchmarks="ddi-binary").models == ["dummy:oracle"]
    assert config.command("runs/x/config.yaml") == "python -m evaluation run --config runs/x/config.yaml"


@pytest.mark.parametrize("spec, text", [
    ({"models": ["m:x"]}, "the field 'benchmarks' is missing"),
    ({"models": ["m:x"], "benchmarks": ["b"], "limt": 3}, "Did you mean 'limit'"),
    ({"models": [], "benchmarks": ["b"]}, "at least one model"),
    ({"models": ["m:x"], "benchmarks": ["b"], "limit": 0}, "limit must be at least 1"),
    ({"models": ["m:x"], "benchmarks": ["b"], "batch_size": 0}, "batch_size must be at least 1"),
    (["models"], "expected a mapping"),
])
def test_eval_config_errors(spec, text):
    with pytest.raises(ConfigError, match=text):
        EvalConfig.from_dict(spec, "cfg.yaml")


def test_eval_config_from_bad_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("models: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read the config"):
        EvalConfig.from_yaml(path)
