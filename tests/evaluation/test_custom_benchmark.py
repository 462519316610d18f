"""Benchmarks from a user's own file (evaluation.custom and benchmark `fields:` / `template:`): raw DDI pairs in
JSONL and CSV become benchmarks, previews show the rendered prompts, saved ones load back with the same hash, and
every mistake is one sentence naming the file, the line or the column before any model loads."""
from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import yaml

import settings
from evaluation import benchmark as benchmarks, custom
from evaluation.benchmark import BenchmarkError
from evaluation.runner import Options, evaluate

LABELS = ["interaction", "no interaction"]
DRUGS = [("Warfarin", "Fluconazole"), ("Metformin", "Aspirin"), ("Simvastatin", "Clarithromycin"),
         ("Paracetamol", "Loratadine"), ("Digoxin", "Amiodarone"), ("Omeprazole", "Cetirizine")]
# (reference, the label the prompt tells dummy:choice, its probability): 5 right, 1 wrong
CASES = [("interaction", "interaction", 0.9), ("no interaction", "no interaction", 0.8),
         ("interaction", "interaction", 0.6), ("no interaction", "interaction", 0.7),
         ("interaction", "interaction", 0.95), ("no interaction", "no interaction", 0.55)]
EXPECTING = "Do {drug1} and {drug2} interact? Expected: {said} p={p}"  # dummy:choice reads what follows Expected:


def pair_rows(n: int = 6, **extra) -> list[dict]:
    """Raw DDI pairs as the shared file has them (drug1, drug2, smiles1, smiles2, label + other columns)."""
    rows = []
    for i in range(n):
        (a, b), (label, said, p) = DRUGS[i % len(DRUGS)], CASES[i % len(CASES)]
        rows.append({"drug1": a, "drug2": b, "drugbank_id1": f"DB{i:05d}", "smiles1": "CCO", "smiles2": "c1ccccc1",
                     "label": label, "source": "test", "said": said, "p": p, **extra})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(autouse=True)
def user_data(tmp_path, monkeypatch) -> Path:
    """Saved benchmarks (settings.data_dir()/benchmarks) in this test's own folder."""
    folder = tmp_path / "data"
    monkeypatch.setenv("PHARMATUNE_DATA", str(folder))
    return folder


@pytest.fixture
def pairs(tmp_path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", pair_rows())


# -- raw rows become items -----------------------------------------------------------------------------------------
def test_a_raw_ddi_pairs_jsonl_becomes_a_choice_benchmark_with_the_study_prompt(pairs):
    bench = custom.build(str(pairs), template="ddi.binary", reference="label", mode="choice")
    assert bench.modes == ["choice"] and bench.parser == "label" and bench.labels == LABELS  # from the prompt
    assert [m.name for m in bench.metrics] == custom.CHOICE_METRICS
    assert bench.dataset == str(pairs.resolve()) and bench.fields == {}
    items = bench.items()
    assert [it.reference for it in items] == [label for label, _, _ in CASES]
    assert items[0].meta["drugbank_id1"] == "DB00000" and items[0].meta["source"] == "test"  # every column
    system, user = items[0].messages
    assert system["role"] == "system" and "interaction, no interaction" in system["content"]
    assert user["content"].startswith("Drug 1: Warfarin\nSMILES: CCO\nDrug 2: Fluconazole\nSMILES: c1ccccc1\n")


def test_a_raw_ddi_pairs_csv_becomes_a_benchmark_too(tmp_path):
    path = write_csv(tmp_path / "pairs.csv", pair_rows())
    bench = custom.build(str(path), template="ddi.binary", reference="label", mode="generate")
    assert bench.modes == ["generate"] and bench.parser == "label" and [m.name for m in bench.metrics] == ["classification"]
    items = bench.items()
    assert len(items) == 6 and items[1].reference == "no interaction"
    assert "Metformin" in items[1].messages[-1]["content"] and items[1].meta["p"] == "0.8"  # CSV cells are text


@pytest.mark.parametrize("suffix", ["json", "tsv", "parquet"])
def test_other_tables_the_data_layer_reads_work_the_same(suffix, tmp_path):
    rows = pair_rows(4)
    path = tmp_path / f"pairs.{suffix}"
    if suffix == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif suffix == "tsv":
        path.write_text("\n".join("\t".join(str(v) for v in r.values()) for r in [dict(zip(rows[0], rows[0])), *rows])
                        + "\n", encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    bench = custom.build(str(path), template="ddi.binary", reference="label", mode="choice")
    assert [it.reference for it in bench.items()] == [r["label"] for r in rows]
    assert "Drug 2: Aspirin" in custom.preview(bench)[1][-1]["content"]


def test_choice_mode_runs_on_the_dummy_model_with_intervals(pairs, tmp_path):
    bench = custom.build(str(pairs), template={"user": EXPECTING}, reference="label", mode="choice", labels=LABELS)
    [result] = evaluate("dummy:choice", bench, tmp_path / "out", Options(batch_size=4))
    assert result.items == 6 and result.metrics["accuracy"] == pytest.approx(5 / 6)
    assert 0 < result.metrics["auroc"] <= 1 and result.metrics["brier"] > 0
    summary = result.summary()
    assert summary["mode"] == "choice" and set(custom.CHOICE_METRICS) - {"classification"} <= set(summary["intervals"])
    assert all(v["low"] <= result.metrics[k] <= v["high"] for k, v in summary["intervals"].items())


def test_both_modes_from_one_file_are_two_results(pairs, tmp_path):
    bench = custom.build(str(pairs), template={"user": EXPECTING}, reference="label", mode="both", labels=LABELS)
    generate, choice = evaluate("dummy:choice", bench, tmp_path / "out", Options())
    assert (generate.details["mode"], choice.details["mode"]) == ("generate", "choice")
    assert "auroc" not in generate.metrics and "auroc" in choice.metrics


def test_the_shared_ddi_validation_file_becomes_a_benchmark():
    path = settings.shared_data_dir() / "ddi" / "validation.jsonl"
    if not path.is_file():
        pytest.skip(f"the shared data sets are not on this machine ({settings.shared_data_dir()} is absent)")
    first = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:3]]
    bench = custom.build(str(path), template="ddi.binary", reference="label", mode="choice")
    found = custom.check(bench)
    assert found["items"] == sum(found["labels"].values()) == 200
    assert set(found["labels"]) == set(LABELS)
    assert {"drugbank_id1", "drugbank_id2", "source"} <= set(found["columns"])
    assert len(found["prompts"]) == 3
    for row, messages in zip(first, found["prompts"]):
        assert row["drug1"] in messages[-1]["content"] and row["smiles2"] in messages[-1]["content"]


def test_fields_map_placeholders_to_other_column_names(tmp_path):
    rows = [{"name_a": a, "name_b": b, "answer_class": label} for (a, b), (label, _, _) in zip(DRUGS, CASES)]
    path = write_jsonl(tmp_path / "renamed.jsonl", rows)
    bench = custom.build(str(path), template={"system": "Be brief.", "user": "{drug1} with {drug2}?"},
                         fields={"drug1": "name_a", "drug2": "name_b"}, reference="answer_class", labels=LABELS)
    assert bench.placeholders() == {"drug1": "name_a", "drug2": "name_b"}
    assert bench.items()[0].messages == [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "Warfarin with Fluconazole?"}]


def test_a_records_file_gives_its_meta_and_question_as_columns(tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": label}],
             "meta": {"id": f"r{i}", "label": label, "drug1": a}} for i, ((a, _), (label, _, _)) in
            enumerate(zip(DRUGS, CASES))]
    path = write_jsonl(tmp_path / "records.jsonl", rows)
    bench = custom.build(str(path), template="Drug {drug1}; asked: {question}", reference="label", labels=LABELS)
    item = bench.items()[2]
    assert item.id == "r2" and item.reference == "interaction" and item.meta["answer"] == "interaction"
    assert item.messages == [{"role": "user", "content": "Drug Simvastatin; asked: Q2"}]


def test_default_metrics_follow_the_answers(tmp_path):
    numbers = write_csv(tmp_path / "logp.csv", [{"smiles": "CCO", "logp": "-0.31"}, {"smiles": "CCC", "logp": "1.1"}])
    bench = custom.build(str(numbers), template="LogP of {smiles}?", reference="logp")
    assert bench.parser == "number" and [m.name for m in bench.metrics] == custom.NUMBER_METRICS
    assert [it.reference for it in bench.items()] == [-0.31, 1.1]
    assert custom.summary(bench)["numbers"] == {"min": -0.31, "max": 1.1, "mean": pytest.approx(0.395)}
    text = write_jsonl(tmp_path / "qa.jsonl", [{"q": "What is aspirin?", "a": "An NSAID."}])
    bench = custom.build(str(text), template="{q}", reference="a")
    assert bench.parser == "text" and [m.name for m in bench.metrics] == custom.TEXT_METRICS
    bench = custom.build(str(text), template="{q}", reference="a", metrics="token_f1")
    assert [m.name for m in bench.metrics] == ["token_f1"]


# -- preview and summary -------------------------------------------------------------------------------------------
def test_preview_gives_three_rendered_prompts_with_the_drug_names(pairs):
    bench = custom.build(str(pairs), template="ddi.binary", reference="label", mode="choice")
    shown = custom.preview(bench)
    assert len(shown) == 3
    for (a, b), messages in zip(DRUGS, shown):
        assert f"Drug 1: {a}" in messages[-1]["content"] and f"Drug 2: {b}" in messages[-1]["content"]
    found = custom.check(bench)
    assert found["prompts"] == shown and found["items"] == 6
    assert found["labels"] == {"interaction": 3, "no interaction": 3}
    assert found["placeholders"] == {"drug1": "drug1", "smiles1": "smiles1", "drug2": "drug2", "smiles2": "smiles2"}
    assert any("intervals will be wide" in w for w in found["warnings"])


def test_the_summary_warns_when_a_label_never_occurs(tmp_path):
    path = write_jsonl(tmp_path / "one-class.jsonl", pair_rows(4, label="interaction"))
    found = custom.summary(custom.build(str(path), template="ddi.binary", reference="label", mode="choice"))
    assert found["labels"] == {"interaction": 4, "no interaction": 0}
    assert any("AUROC" in w for w in found["warnings"])


# -- saving and loading --------------------------------------------------------------------------------------------
def test_a_saved_benchmark_loads_back_equal_and_is_listed(pairs, user_data):
    bench = custom.build(str(pairs), template={"system": "Pharmacology.\nBe brief.", "user": EXPECTING},
                         reference="label", mode="both", labels=LABELS, description="my pairs")
    path = custom.save(bench, "my-ddi_pairs.v1")
    assert path == user_data / "benchmarks" / "my-ddi_pairs.v1.yaml"
    loaded = benchmarks.load("my-ddi_pairs.v1")
    assert loaded.config_hash() == dataclasses.replace(bench, name="my-ddi_pairs.v1").config_hash()
    assert loaded.template == bench.template and loaded.fields == {} and loaded.modes == ["generate", "choice"]
    assert [it.messages for it in loaded.items()] == [it.messages for it in bench.items()]
    assert "my-ddi_pairs.v1" in benchmarks.names() and benchmarks.saved_names() == ["my-ddi_pairs.v1"]
    assert "ddi-binary" in benchmarks.names()
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["dataset"] == str(pairs.resolve())
    with pytest.raises(BenchmarkError, match="Did you mean 'my-ddi_pairs.v1'"):
        benchmarks.load("my-ddi_pairs.v2")


def test_to_yaml_is_a_benchmark_file_with_the_same_hash(pairs, tmp_path):
    bench = custom.build(str(pairs), template="ddi.binary", reference="label", mode="choice")
    path = tmp_path / "one-off.yaml"
    path.write_text(custom.to_yaml(bench), encoding="utf-8")
    assert benchmarks.load(path).config_hash() == bench.config_hash()


def test_saving_refuses_shipped_names_bad_names_and_silent_overwrites(pairs, user_data):
    bench = custom.build(str(pairs), template="ddi.binary", reference="label", mode="choice")
    with pytest.raises(BenchmarkError, match="'ddi-binary' is a shipped benchmark"):
        custom.save(bench, "ddi-binary")
    for bad in ("my ddi", "../escape", "a/b", "", ".hidden", "x.yaml"):
        with pytest.raises(BenchmarkError, match="cannot name a benchmark: use letters, digits"):
            custom.save(bench, bad)
    first = custom.save(bench, "mine")
    assert custom.save(bench, "mine") == first  # the same benchmark again
    other = custom.build(str(pairs), template="ddi.binary_compact", reference="label", mode="choice")
    with pytest.raises(BenchmarkError, match=r"A benchmark named 'mine' is already saved \(.*mine.yaml\); choose"):
        custom.save(other, "mine")
    custom.save(other, "mine", overwrite=True)
    assert benchmarks.load("mine").prompt == "ddi.binary_compact"
    assert sorted(p.name for p in (user_data / "benchmarks").iterdir()) == ["mine.yaml"]  # no temp files left


def test_a_shipped_name_wins_over_a_file_saved_by_hand(pairs, user_data):
    folder = user_data / "benchmarks"
    folder.mkdir(parents=True)
    (folder / "ddi-binary.yaml").write_text(custom.to_yaml(custom.build(
        str(pairs), template="ddi.binary", reference="label", mode="choice")), encoding="utf-8")
    assert benchmarks.load("ddi-binary").path == benchmarks.FOLDER / "ddi-binary.yaml"
    assert benchmarks.saved_names() == [] and benchmarks.names().count("ddi-binary") == 1


def test_building_under_a_shipped_name_is_refused(pairs):
    with pytest.raises(BenchmarkError, match="'ddi-binary' is the name of a shipped benchmark"):
        custom.build(str(pairs), template="ddi.binary", reference="label", name="ddi-binary")


# -- every mistake is a sentence -----------------------------------------------------------------------------------
def test_a_column_the_template_needs_is_named_with_the_columns(tmp_path):
    path = write_csv(tmp_path / "names-only.csv", [{"drug1": "A", "drug2": "B", "label": "interaction"}])
    with pytest.raises(BenchmarkError) as info:
        custom.build(str(path), template="ddi.binary", reference="label", mode="choice")
    assert str(info.value).endswith(f"the template needs {{smiles1}}, but {path.resolve()} has no column 'smiles1' "
                                    "(columns: drug1, drug2, label)")


def test_a_mapped_column_that_is_missing_is_named(pairs):
    with pytest.raises(BenchmarkError, match=r"the template needs \{drug1\} \(fields: maps it to the column 'name_a'\), "
                                             r"but .*pairs.jsonl has no column 'name_a' \(columns: drug1, drug2, "):
        custom.build(str(pairs), template="ddi.binary", reference="label", fields={"drug1": "name_a"})


def test_a_row_without_a_column_is_named_by_its_line(tmp_path):
    rows = pair_rows(3)
    del rows[1]["smiles2"]
    path = write_jsonl(tmp_path / "gap.jsonl", rows)
    with pytest.raises(BenchmarkError, match=r"gap.jsonl line 2: the column 'smiles2' is missing or empty, and the "
                                             r"template needs it for \{smiles2\}"):
        custom.build(str(path), template="ddi.binary", reference="label")


def test_a_missing_reference_column_is_named(pairs):
    with pytest.raises(BenchmarkError, match=r"the reference column 'answer' is not in .*pairs.jsonl \(columns: drug1"):
        custom.build(str(pairs), template="ddi.binary", reference="answer")


def test_an_empty_file_has_no_rows(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"empty.jsonl has no rows$"):
        custom.build(str(path), template="ddi.binary", reference="label", mode="choice")


def test_an_unreadable_line_is_named_with_the_file(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(pair_rows(1)[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"broken.jsonl line 2: bad JSON"):
        custom.build(str(path), template="ddi.binary", reference="label")


def test_choice_without_labels_says_so_and_shows_the_values(pairs):
    with pytest.raises(BenchmarkError, match=r"choice mode .* needs the labels .*; the column 'label' holds: "
                                             r"interaction, no interaction$"):
        custom.build(str(pairs), template="{drug1} and {drug2}?", reference="label", mode="choice")


def test_a_reference_that_is_no_label_is_named_by_its_line(tmp_path):
    rows = pair_rows(3)
    rows[2]["label"] = "maybe"
    path = write_jsonl(tmp_path / "odd.jsonl", rows)
    with pytest.raises(BenchmarkError, match=r"odd.jsonl line 3: the reference 'maybe' \(column 'label'\) is not one "
                                             r"of the labels \(interaction, no interaction\)"):
        custom.build(str(path), template="ddi.binary", reference="label", mode="choice")


def test_an_empty_reference_is_named_by_its_line(tmp_path):
    rows = pair_rows(3)
    rows[1]["label"] = ""
    path = write_csv(tmp_path / "blank.csv", rows)
    with pytest.raises(BenchmarkError, match=r"blank.csv line 3: no reference \(the column 'label' is missing or empty\)"):
        custom.build(str(path), template="ddi.binary", reference="label")


def test_a_number_reference_that_is_no_number_is_named(tmp_path):
    path = write_csv(tmp_path / "logp.csv", [{"smiles": "CCO", "logp": "-0.3"}, {"smiles": "CCC", "logp": "n/a"}])
    with pytest.raises(BenchmarkError, match=r"logp.csv line 3: the reference 'n/a' \(column 'logp'\) is not a number"):
        custom.build(str(path), template="{smiles}", reference="logp", metrics=["regression"])


def test_a_missing_file_and_a_malformed_template_are_named(tmp_path, pairs):
    with pytest.raises(BenchmarkError, match=r"No dataset file .*absent.jsonl"):
        custom.build(str(tmp_path / "absent.jsonl"), template="ddi.binary", reference="label")
    with pytest.raises(BenchmarkError, match=r"template.user: .*write \{\{ and \}\} for a literal brace"):
        custom.build(str(pairs), template="Is {drug1 ok?", reference="label")
    with pytest.raises(BenchmarkError, match=r"prompt 'ddi.nothing' is not in prompts/ddi.yaml"):
        custom.build(str(pairs), template="ddi.nothing", reference="label")


# -- the YAML fields themselves ------------------------------------------------------------------------------------
def spec(dataset: Path, **fields) -> dict:
    return {"name": "yaml-pairs", "dataset": str(dataset), "reference": "label", "labels": LABELS,
            "parser": "label", "metrics": ["classification"], **fields}


def test_prompt_and_template_together_are_refused(pairs, tmp_path):
    with pytest.raises(BenchmarkError, match=r"b.yaml: give prompt: .* or template: .*, not both"):
        benchmarks.from_dict(spec(pairs, prompt="ddi.binary", template={"user": "{drug1}"}), tmp_path / "b.yaml")


@pytest.mark.parametrize("template, message", [
    ({"system": "only a system"}, "the user text is missing"),
    ({"user": "{drug1}", "assistant": "x"}, "unknown part 'assistant'"),
    ({"user": ""}, r"template.user: expected the text"),
    ({"user": "{drug1.upper}"}, r"\{drug1.upper\} is not a column name"),
    ({"user": "{}"}, r"an empty \{\} placeholder"),
    (["a list"], "expected the prompt itself"),
])
def test_a_bad_inline_template_is_named(template, message, pairs, tmp_path):
    with pytest.raises(BenchmarkError, match=message):
        benchmarks.from_dict(spec(pairs, template=template, fields={}), tmp_path / "b.yaml")


def test_fields_need_a_prompt_and_must_be_a_mapping(pairs, tmp_path):
    with pytest.raises(BenchmarkError, match=r"b.yaml, fields: items made from a file's columns need a prompt"):
        benchmarks.from_dict(spec(pairs, fields={}), tmp_path / "b.yaml")
    with pytest.raises(BenchmarkError, match=r"b.yaml, fields: expected a mapping of template placeholder to column"):
        benchmarks.from_dict(spec(pairs, fields=["drug1"], prompt="ddi.binary"), tmp_path / "b.yaml")


def test_a_yaml_benchmark_with_fields_reads_raw_rows(pairs, tmp_path):
    bench = benchmarks.from_dict(spec(pairs, prompt="ddi.binary_compact", fields={}), tmp_path / "b.yaml")
    assert bench.items()[0].messages[-1]["content"] == "Warfarin (CCO) + Fluconazole (c1ccccc1): interaction or " \
                                                       "no interaction?"


def test_few_shot_examples_come_from_the_train_rows_of_a_set_with_splits(tmp_path):
    """A set with splits gives examples from its train rows; a plain file, whose only rows are the test items, is
    refused (test_custom_cli: an empty cell and few-shot from one file)."""
    bench = benchmarks.from_dict({**spec(Path("x"), template={"user": "{drug1}+{drug2}?"}, fields={},
                                         few_shot={"k": 2, "select": "balanced"}),
                                  "dataset": "bundled:ddi-binary", "split": "test"}, tmp_path / "b.yaml")
    item = bench.items()[0]
    assert [m["role"] for m in item.messages] == ["user", "assistant", "user", "assistant", "user"]
    assert {item.messages[1]["content"], item.messages[3]["content"]} == set(LABELS)
    from data import catalog

    train = {f"{r.meta['drug1']}+{r.meta['drug2']}?" for r in catalog.load("bundled:ddi-binary", "train")}
    assert {item.messages[0]["content"], item.messages[2]["content"]} <= train  # from train, not the test rows


def test_records_benchmarks_keep_their_hash():
    """Pinned before fields: and template: existed; a records benchmark's hash must not move (earlier leaderboard
    rows and resumable predictions are keyed by it)."""
    pinned = {"name": "pinned", "dataset": "pinned.jsonl", "reference": "label", "parser": "label",
              "labels": LABELS, "metrics": ["classification"], "generation": {"max_new_tokens": 8}}
    assert benchmarks.from_dict(pinned, "p.yaml").config_hash() == "10bfdc5aef5e8bc6"
    choice = {**pinned, "mode": "choice", "metrics": ["classification", "auroc"], "prompt": "ddi.binary"}
    del choice["parser"]
    assert benchmarks.from_dict(choice, "p.yaml").config_hash() == "c1ecd4707262d260"
