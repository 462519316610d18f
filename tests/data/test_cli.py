"""python -m data, in-process through main([...]) and once as a real subprocess for the exit code."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data.__main__ import main
from data.records import Record
from data.validation import load


ROOT = Path(__file__).resolve().parents[2]


def chat(question: str, answer: str, **meta) -> dict:
    row = {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}
    return {**row, "meta": meta} if meta else row


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def good(tmp_path) -> Path:
    return write_jsonl(tmp_path / "good.jsonl", [chat(f"Question {i}?", f"Answer {i}.", id=i) for i in range(10)])


@pytest.fixture
def bad(tmp_path) -> Path:
    return write_jsonl(tmp_path / "bad.jsonl", [
        chat("Does warfarin interact with fluconazole?", "Yes."),
        chat("Is aspirin an NSAID?", ""),
        '{"messages": [',
    ])


BAD_LINES = ["  error: line 2, messages[1].content: empty assistant turn", "  error: line 3: bad JSON: "]


def test_validate_a_good_file_exits_0(good, capsys):
    assert main(["validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "good.jsonl (records): 10 rows, 10 valid, 0 error(s), 0 warning(s)"


def test_validate_a_bad_file_exits_1_and_prints_line_numbered_findings(bad, capsys):
    assert main(["validate", str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "bad.jsonl (openai): 3 rows, 1 valid, 2 error(s), 0 warning(s)"
    assert lines[1] == BAD_LINES[0]
    assert lines[2].startswith(BAD_LINES[1])

    assert main(["validate", str(bad), "--limit", "1"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "  … and 1 more"


def test_validate_as_a_real_subprocess(bad):
    done = subprocess.run([sys.executable, "-m", "data", "validate", str(bad)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1, done.stderr
    assert BAD_LINES[0] in done.stdout.splitlines()
    assert any(line.startswith(BAD_LINES[1]) for line in done.stdout.splitlines())
    assert "Traceback" not in done.stderr


def test_validate_a_missing_file_exits_1_with_one_line(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.jsonl")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "no such file" in captured.err


def test_validate_with_train_reports_leaked_test_items(tmp_path, good, capsys):
    test = write_jsonl(tmp_path / "test.jsonl", [chat("QUESTION 3?", "whatever"), chat("new one?", "a")])
    assert main(["validate", str(test), "--train", str(good)]) == 1
    assert "line 1: this test item also appears in the training data (good.jsonl record 4)" in capsys.readouterr().out


def test_validate_with_max_tokens_and_a_model_reference(tmp_path, tiny_llama, capsys):
    path = write_jsonl(tmp_path / "lengths.jsonl", [chat("Aspirin?", "COX."),
                                                    chat("Warfarin interacts with fluconazole " * 10, "yes")])
    model = f"hf:{tiny_llama}"
    assert main(["validate", str(path), "--max-tokens", "60", "--model", model]) == 1
    out = capsys.readouterr().out
    assert "1 error(s)" in out.splitlines()[0]
    too_long = [line for line in out.splitlines() if "longer than the maximum of 60" in line]
    assert len(too_long) == 1 and too_long[0].startswith("  error: line 2: ")
    assert main(["validate", str(path), "--max-tokens", "1000", "--model", model]) == 0


def test_validate_with_a_model_that_has_no_tokenizer_is_one_line_error(good, capsys):
    assert main(["validate", str(good), "--max-tokens", "10", "--model", "dummy:echo"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "local tokenizer" in err


def test_validate_a_csv_with_a_mapping(tmp_path, capsys):
    path = tmp_path / "qa.csv"
    path.write_text("q,a\nAspirin target?,COX\n", encoding="utf-8")
    assert main(["validate", str(path), "--mapping", "prompt=q,completion=a"]) == 0
    assert main(["validate", str(path), "--mapping", "prompt q"]) == 1
    assert "e.g. prompt=question,completion=answer" in capsys.readouterr().err


def test_convert_to_alpaca_writes_the_file(good, tmp_path, capsys):
    target = tmp_path / "out" / "alpaca.jsonl"
    assert main(["convert", str(good), "--to", "alpaca", str(target)]) == 0
    assert "wrote 10 records as alpaca" in capsys.readouterr().out
    first = json.loads(target.read_text(encoding="utf-8").splitlines()[0])
    assert first == {"instruction": "Question 0?", "input": "", "output": "Answer 0."}
    assert [r.messages for r in load(target)] == [r.messages for r in load(good)]


def test_convert_invalid_input_exits_1_and_writes_nothing(bad, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    assert main(["convert", str(bad), "--to", "alpaca", str(out / "alpaca.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: bad.jsonl (openai)")
    assert "line 2, messages[1].content: empty assistant turn" in err
    assert os.listdir(out) == []


def test_convert_a_multi_turn_record_to_alpaca_exits_1_and_writes_nothing(tmp_path, capsys):
    source = write_jsonl(tmp_path / "multi.jsonl", [
        chat("q", "a"),
        {"messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
                      {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]},
    ])
    out = tmp_path / "out"
    out.mkdir()
    assert main(["convert", str(source), "--to", "alpaca", str(out / "a.jsonl")]) == 1
    assert "record 2" in capsys.readouterr().err
    assert os.listdir(out) == []


def test_split_writes_train_validation_test_files(tmp_path, capsys):
    source = write_jsonl(tmp_path / "all.jsonl", [chat(f"Q{i}?", f"A{i}.", id=i) for i in range(50)])
    out = tmp_path / "parts"
    assert main(["split", str(source), "-o", str(out), "--seed", "3"]) == 0
    assert "train 36, validation 4, test 10" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ["test.jsonl", "train.jsonl", "validation.jsonl"]
    parts = {name: load(out / f"{name}.jsonl") for name in ("train", "validation", "test")}
    assert {name: len(p) for name, p in parts.items()} == {"train": 36, "validation": 4, "test": 10}
    assert sorted(r.meta["id"] for p in parts.values() for r in p) == list(range(50))

    again = tmp_path / "again"
    assert main(["split", str(source), "-o", str(again), "--seed", "3"]) == 0
    assert (again / "test.jsonl").read_bytes() == (out / "test.jsonl").read_bytes()


def test_split_with_fractions_stratify_and_csv_output(tmp_path, capsys):
    rows = [chat(f"Pair {i}?", "yes" if i % 2 else "no", label="yes" if i % 2 else "no") for i in range(20)]
    source = write_jsonl(tmp_path / "labelled.jsonl", rows)
    out = tmp_path / "parts"
    assert main(["split", str(source), "-o", str(out), "--fractions", "train=0.8,test=0.2",
                 "--stratify", "label", "--to", "csv"]) == 0
    assert sorted(os.listdir(out)) == ["test.csv", "train.csv"]
    test = load(out / "test.csv")
    assert sorted(r.meta["label"] for r in test) == ["no", "no", "yes", "yes"]


def test_split_with_bad_fractions_exits_1_and_writes_nothing(good, tmp_path, capsys):
    out = tmp_path / "parts"
    assert main(["split", str(good), "-o", str(out), "--fractions", "0.9,0.3"]) == 1
    assert "sum to 1" in capsys.readouterr().err
    assert not out.exists() or os.listdir(out) == []


def test_stats_prints_json_with_rows(tmp_path, capsys):
    source = write_jsonl(tmp_path / "s.jsonl", [chat(f"Q{i}?", "yes", task="ddi_binary", label="yes") for i in range(3)]
                         + [chat("Q?", "no", task="ddi_binary", label="no")])
    assert main(["stats", str(source)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 4 and summary["valid rows"] == 4 and summary["errors"] == 0
    assert summary["tasks"] == {"ddi_binary": 4} and summary["labels"] == {"yes": 3, "no": 1}


def test_stats_with_a_model_adds_token_lengths_and_a_histogram(good, tiny_llama, capsys):
    assert main(["stats", str(good), "--model", f"hf:{tiny_llama}"]) == 0
    out = capsys.readouterr().out
    summary, end = json.JSONDecoder().raw_decode(out)
    lengths = summary["token_lengths"]
    assert lengths["count"] == 10 and lengths["min"] <= lengths["p50"] <= lengths["max"]
    assert lengths["suggested_max_length"] % 64 == 0 and "histogram" not in lengths
    bars = out[end:].strip().splitlines()
    assert bars and sum(int(line.split()[-1]) for line in bars) == 10


def test_stats_reads_the_chosen_split_of_a_hugging_face_dataset(tmp_path, capsys):
    import datasets

    folder = tmp_path / "hf"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_list([{"question": f"q{i}", "answer": "a"} for i in range(3)]),
        "test": datasets.Dataset.from_list([{"question": "tq", "answer": "ta"}]),
    }).save_to_disk(str(folder))
    capsys.readouterr()
    assert main(["stats", str(folder)]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 3
    assert main(["stats", str(folder), "--split", "test"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 1


def test_build_with_an_unknown_builder_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["build", "no-such-builder", str(tmp_path / "in.json"), str(tmp_path / "out.jsonl")])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'no-such-builder'" in err and "openfda" in err
    assert os.listdir(tmp_path) == []


def test_an_unknown_export_format_is_a_usage_error(good, tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["convert", str(good), "--to", "yaml", str(tmp_path / "x.yaml")])
    assert excinfo.value.code == 2
    assert "invalid choice: 'yaml'" in capsys.readouterr().err


def test_records_survive_convert_to_records_and_back(good, tmp_path):
    target = tmp_path / "copy.jsonl"
    assert main(["convert", str(good), "--to", "records", str(target)]) == 0
    assert load(target) == load(good)
    assert load(target)[3] == Record.chat("Question 3?", "Answer 3.", id=3)
