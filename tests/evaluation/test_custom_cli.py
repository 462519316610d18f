"""python -m evaluation run/check --dataset FILE --template KEY --reference COLUMN --mode ...: a benchmark from your
own file, on the command line. JSON summary with intervals, the leaderboard, saving, usage errors (exit 2) and bad
input as one sentence without a traceback."""
from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evaluation import benchmark as benchmarks
from evaluation.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["interaction", "no interaction"]
DRUGS = [("Warfarin", "Fluconazole"), ("Metformin", "Aspirin"), ("Simvastatin", "Clarithromycin"),
         ("Paracetamol", "Loratadine"), ("Digoxin", "Amiodarone"), ("Omeprazole", "Cetirizine")]
EXPECTING = "Do {drug1} and {drug2} interact? Expected: {said}"


def pair_rows(n: int = 6, fail_at: int | None = None) -> list[dict]:
    rows = []
    for i in range(n):
        a, b = DRUGS[i % len(DRUGS)]
        label = LABELS[i % 2]
        rows.append({"drug1": a + (" FAIL" if i == fail_at else ""), "drug2": b, "smiles1": "CCO",
                     "smiles2": "c1ccccc1", "label": label, "said": LABELS[0] if i == 3 else label, "source": "t"})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def last_json(stdout: str) -> dict:
    lines = stdout.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    return json.loads("\n".join(lines[start:]))


@pytest.fixture(autouse=True)
def user_data(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def pairs(tmp_path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", pair_rows())


def cli(*argv, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evaluation", *map(str, argv)], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=timeout)


def custom_flags(dataset: Path, *extra) -> list[str]:
    return ["--dataset", str(dataset), "--template-text", EXPECTING, "--labels", ",".join(LABELS),
            "--reference", "label", "--mode", "choice", *extra]


# -- run -----------------------------------------------------------------------------------------------------------
def test_run_on_a_raw_pairs_file_prints_the_json_summary_with_intervals(isolated_runs, pairs, tmp_path):
    out_dir = tmp_path / "eval-custom"
    proc = cli("run", "--model", "dummy:choice", "--dataset", pairs, "--template", "ddi.binary", "--reference",
               "label", "--mode", "choice", "--out", out_dir, "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = last_json(proc.stdout)
    [entry] = summary["results"]
    assert entry["benchmark"] == "custom-pairs" and entry["mode"] == "choice" and entry["items"] == 6
    for name in ("accuracy", "balanced_accuracy", "auroc", "auprc", "brier", "ece"):
        assert name in entry["metrics"] and set(entry["intervals"][name]) == {"low", "high"}
    assert entry["leaderboard_id"] is not None
    from evaluation import leaderboard

    row = leaderboard.get(entry["leaderboard_id"])
    assert row.benchmark == "custom-pairs" and row.config_hash == entry["config_hash"]
    # the run folder holds its own benchmark, and config.yaml names it: the run is replayable
    config = yaml.safe_load((out_dir / "config.yaml").read_text(encoding="utf-8"))
    assert config["benchmarks"] == [str((out_dir / "benchmark.yaml").resolve())]
    assert benchmarks.load(out_dir / "benchmark.yaml").dataset == str(pairs.resolve())
    replay = cli("run", "--config", out_dir / "config.yaml", "--out", tmp_path / "replay", "--quiet")
    assert replay.returncode == 0, replay.stderr
    [again] = last_json(replay.stdout)["results"]
    assert again["config_hash"] == entry["config_hash"] and again["metrics"] == entry["metrics"]


@pytest.mark.parametrize("content, message", [
    ("", r"^error: custom-bad: .*bad.jsonl has no rows$"),
    (json.dumps({"drug1": "A", "drug2": "B", "label": "interaction"}) + "\n",
     r"^error: custom-bad: the template needs \{smiles1\}, but .*bad.jsonl has no column 'smiles1' "
     r"\(columns: drug1, drug2, label\)$"),
])
def test_bad_input_is_one_sentence_exit_2_without_a_traceback(content, message, isolated_runs, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    proc = cli("run", "--model", "dummy:choice", "--dataset", path, "--template", "ddi.binary", "--reference", "label",
               "--mode", "choice")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    import re

    assert re.fullmatch(message, proc.stderr.strip()), proc.stderr
    assert not list(isolated_runs.glob("eval-*"))  # nothing started


def test_save_benchmark_then_list_shows_it_and_benchmark_runs_it(isolated_runs, pairs, capsys, user_data):
    code = main(["run", "--model", "dummy:choice", *custom_flags(pairs, "--save-benchmark", "my-pairs"), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"[saved] benchmark my-pairs: {user_data / 'benchmarks' / 'my-pairs.yaml'}" in err
    [first] = last_json(out)["results"]
    assert first["benchmark"] == "my-pairs" and first["metrics"]["accuracy"] == pytest.approx(5 / 6)
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    line = next(line for line in listed.splitlines() if line.split()[:1] == ["my-pairs"])
    assert "[saved]" in line and "6 items from pairs.jsonl" in line
    assert "[saved]" not in next(line for line in listed.splitlines() if line.split()[:1] == ["ddi-binary"])
    assert main(["run", "--model", "dummy:choice", "--benchmark", "my-pairs", "--quiet", "--no-leaderboard"]) == 0
    [second] = last_json(capsys.readouterr().out)["results"]
    assert second["config_hash"] == first["config_hash"] and second["metrics"] == first["metrics"]
    assert first["leaderboard_id"] is not None and second["leaderboard_id"] is None
    # the same command again reuses the saved benchmark; a different one under that name is refused
    assert main(["run", "--model", "dummy:choice", *custom_flags(pairs, "--save-benchmark", "my-pairs"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["run", "--model", "dummy:choice", *custom_flags(pairs, "--save-benchmark", "my-pairs", "--metrics",
                                                                  "classification")]) == 2
    assert "A benchmark named 'my-pairs' is already saved" in capsys.readouterr().err
    assert main(["run", "--model", "dummy:choice", *custom_flags(pairs, "--save-benchmark", "my-pairs", "--metrics",
                                                                  "classification", "--overwrite"), "--quiet"]) == 0
    assert [m.name for m in benchmarks.load("my-pairs").metrics] == ["classification"]


def test_an_interrupted_one_off_run_continues_in_its_folder(isolated_runs, tmp_path, capsys):
    path = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(fail_at=4))
    argv = ["run", "--model", "dummy:choice", *custom_flags(path), "--batch-size", "2", "--quiet"]
    assert main(argv) == 1
    out, _ = capsys.readouterr()
    run_id = last_json(out)["run"]
    assert main(argv) == 1  # the same item fails again, but in the same run, from its finished items
    _, err = capsys.readouterr()
    assert f"[resume] {run_id} ran this same configuration" in err
    assert len(list(isolated_runs.glob("eval-*"))) == 1


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "x.jsonl"], "--dataset needs --template KEY"),
    (["--dataset", "x.jsonl", "--template", "ddi.binary", "--reference", "label", "--benchmark", "ddi-binary"],
     "give --dataset (a benchmark made from your file) or --benchmark (a named one), not both"),
    (["--benchmark", "ddi-binary", "--template", "ddi.binary"], "--template only goes with --dataset FILE"),
    (["--benchmark", "ddi-binary", "--mode", "choice", "--labels", "a,b"], "--mode, --labels only go with --dataset"),
    (["--dataset", "x.jsonl", "--template", "ddi.binary"], "--dataset needs --reference COLUMN"),
    (["--dataset", "x.jsonl", "--template", "ddi.binary", "--template-text", "{a}", "--reference", "label"],
     "give --template KEY or --template-text TEXT, not both"),
    (["--dataset", "x.jsonl", "--template", "ddi.binary", "--system", "s", "--reference", "label"],
     "--system goes with --template-text"),
    (["--dataset", "x.jsonl", "--template", "ddi.binary", "--reference", "label", "--field", "drug1"],
     "--field 'drug1': write placeholder=column"),
])
def test_usage_errors_exit_2_with_a_sentence(argv, message, isolated_runs, capsys):
    assert main(["run", "--model", "dummy:choice", *argv]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and message in err and out == ""


def test_an_unknown_mode_is_an_argparse_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--model", "dummy:choice", "--dataset", "x.jsonl", "--template", "ddi.binary", "--mode", "pick"])
    assert info.value.code == 2 and "invalid choice: 'pick'" in capsys.readouterr().err


# -- check ---------------------------------------------------------------------------------------------------------
def test_check_prints_three_rendered_prompts_and_the_counts_without_a_model(pairs):
    proc = cli("check", "--dataset", pairs, "--template", "ddi.binary", "--reference", "label", "--mode", "choice")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "custom-pairs: 6 items from" in out and "labels: interaction 3, no interaction 3" in out
    assert "metrics: classification, balanced_accuracy, auroc, auprc, brier, ece" in out
    assert out.count("--- prompt ") == 3 and "--- prompt 4 ---" not in out
    for a, b in DRUGS[:3]:
        assert f"Drug 1: {a}" in out and f"Drug 2: {b}" in out


def test_check_as_json_and_of_a_named_benchmark(pairs, capsys):
    assert main(["check", *custom_flags(pairs), "--json", "-n", "2"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["items"] == 6 and found["labels"] == {"interaction": 3, "no interaction": 3}
    assert [m[-1]["content"] for m in found["prompts"]] == ["Do Warfarin and Fluconazole interact? Expected: "
                                                            "interaction", "Do Metformin and Aspirin interact? "
                                                            "Expected: no interaction"]
    assert main(["check", "--benchmark", "ddi-binary", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["name"] == "ddi-binary" and found["items"] == 28 and len(found["prompts"]) == 3


def test_check_of_bad_input_is_one_sentence(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("drug1,drug2,label\n", encoding="utf-8")
    assert main(["check", "--dataset", str(path), "--template", "ddi.binary", "--reference", "label"]) == 2
    assert capsys.readouterr().err.strip().endswith("empty.csv has no rows")
    assert main(["check"]) == 2
    assert "check one benchmark: --benchmark NAME, or --dataset FILE" in capsys.readouterr().err


@pytest.mark.slow
def test_a_raw_pairs_file_runs_in_choice_mode_on_the_builtin_model(pairs, isolated_runs, builtin_folder):
    done = cli("run", "--model", "builtin:smollm2-135m-instruct", "--dataset", pairs, "--template", "ddi.binary",
               "--reference", "label", "--mode", "choice", "--limit", "4", "--quiet", timeout=300)
    assert done.returncode == 0, done.stderr
    (result,) = last_json(done.stdout)["results"]
    assert result["model"] == "builtin:smollm2-135m-instruct" and result["mode"] == "choice" and result["items"] == 4
    assert result["metrics"]["unparseable"] == 0 and 0 <= result["metrics"]["auroc"] <= 1
    low, high = result["intervals"]["accuracy"]["low"], result["intervals"]["accuracy"]["high"]
    assert low <= result["metrics"]["accuracy"] <= high
    (predictions,) = isolated_runs.rglob("predictions.jsonl")  # every item has a probability per label
    for row in map(json.loads, predictions.read_text(encoding="utf-8").splitlines()):
        assert set(row["probabilities"]) == set(LABELS)
        assert sum(row["normalised_probabilities"].values()) == pytest.approx(1)


@pytest.mark.parametrize("typed, message", [
    ("Is {drug1:d} risky?", r"\{drug1:d\} is not a plain placeholder"),
    ("Is {drug1!r} risky?", r"\{drug1!r\} is not a plain placeholder"),
    ("Is {0} risky?", r"\{0\} is not a plain placeholder"),
])
def test_a_typed_template_with_a_format_spec_is_one_sentence(typed, message, pairs, isolated_runs):
    done = cli("check", "--dataset", pairs, "--template-text", typed, "--reference", "label", "--mode", "choice",
               "--labels", ",".join(LABELS))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert re.search(message, done.stderr), done.stderr


def test_an_empty_cell_is_named_and_few_shot_from_one_file_is_refused(tmp_path):
    from evaluation import custom

    rows = pair_rows()
    rows[2]["smiles1"] = "  "
    path = write_jsonl(tmp_path / "blank.jsonl", rows)
    with pytest.raises(benchmarks.BenchmarkError, match=r"line 3: the column 'smiles1' is missing or empty"):
        custom.check(custom.build(str(path), template="ddi.binary", reference="label", mode="choice"))
    spec = yaml.safe_load(custom.to_yaml(custom.build(str(write_jsonl(tmp_path / "ok.jsonl", pair_rows())),
                                                      template="ddi.binary", reference="label", mode="choice")))
    spec["few_shot"] = {"k": 2}
    with pytest.raises(benchmarks.BenchmarkError, match="is one file, so its few-shot examples would be other test"):
        benchmarks.from_dict(spec, tmp_path / "few.yaml").items()
