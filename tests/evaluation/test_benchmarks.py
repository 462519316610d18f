"""Benchmark files: the shipped ones load, bad ones fail with the file and the field, items render as specified."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evaluation import benchmark as benchmarks
from evaluation.benchmark import BenchmarkError

LABELS = ["interaction", "no interaction"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def ddi_rows(n: int = 6, system: str | None = None) -> list[dict]:
    rows = []
    for i in range(n):
        label = LABELS[i % 2]
        messages = [{"role": "system", "content": system}] if system else []
        messages += [{"role": "user", "content": f"Do drug A{i} and drug B{i} interact? Expected: {label}"},
                     {"role": "assistant", "content": label}]
        rows.append({"messages": messages, "meta": {"id": f"pair-{i}", "label": label}})
    return rows


def base_spec(dataset: Path, **fields) -> dict:
    return {"name": "tiny-ddi", "dataset": str(dataset), "reference": "label", "parser": "label", "labels": LABELS,
            "metrics": ["classification"], "generation": {"max_new_tokens": 8}, **fields}


@pytest.fixture
def dataset(tmp_path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", ddi_rows())


# -- shipped benchmarks ----------------------------------------------------------------------------------------
SHIPPED = benchmarks.bundled_names()  # not the benchmarks a user saved in the data folder


def test_the_shipped_benchmarks_are_all_listed():
    assert {"ddi-binary", "ddi-binary-3shot", "ddi-binary-robustness", "ddi-binary-shared", "drug-qa", "freesolv",
            "medquad", "solubility", "name-to-smiles", "smiles-to-name"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_benchmark_loads_and_renders_its_items(name, tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_SHARED_DATA", str(tmp_path / "no-shared-data"))
    bench = benchmarks.load(name)
    assert bench.name == name
    assert bench.description
    assert bench.metrics
    assert bench.path == benchmarks.FOLDER / f"{name}.yaml"
    assert bench.config_hash() == benchmarks.load(name).config_hash()
    if bench.dataset.startswith("shared:"):
        why = bench.availability()
        assert why and str(tmp_path / "no-shared-data") in why
        return
    assert bench.availability() is None
    for variant in bench.variant_names():
        items = bench.items(variant, limit=2)
        assert len(items) == 2
        for item in items:
            assert item.messages[-1]["role"] == "user" and item.messages[-1]["content"].strip()
            assert item.reference not in (None, "")
            if bench.labels:
                assert item.reference in bench.labels


def test_the_3shot_benchmark_puts_three_balanced_examples_before_each_question():
    bench = benchmarks.load("ddi-binary-3shot")
    item = bench.items(limit=1)[0]
    roles = [m["role"] for m in item.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    answers = [m["content"] for m in item.messages if m["role"] == "assistant"]
    assert set(answers) == set(LABELS)  # balanced: both labels among the three


def test_the_robustness_benchmark_renders_a_different_prompt_per_variant():
    bench = benchmarks.load("ddi-binary-robustness")
    assert bench.variant_names() == ["original", "reordered", "paraphrase", "list", "compact"]
    prompts = {v: bench.items(v, limit=1)[0].messages[-1]["content"] for v in bench.variant_names()}
    assert len(set(prompts.values())) == 5


def test_a_shared_benchmark_is_unavailable_without_its_folder_and_names_it(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PHARMATUNE_SHARED_DATA", str(empty))
    why = benchmarks.load("ddi-binary-shared").availability()
    assert why is not None
    assert str(empty / "ddi") in why and "shared:ddi" in why


def test_a_shared_benchmark_is_available_and_loads_when_its_folder_is_there(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    (shared / "ddi").mkdir(parents=True)
    rows = [{"drug1": f"Drug{i}", "drug2": f"Other{i}", "smiles1": "CCO", "smiles2": "CCN",
             "label": LABELS[i % 2], "source": "test"} for i in range(4)]
    write_jsonl(shared / "ddi" / "validation.jsonl", rows)
    monkeypatch.setenv("PHARMATUNE_SHARED_DATA", str(shared))
    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path / "data"))
    bench = benchmarks.load("ddi-binary-shared")
    assert bench.availability() is None
    items = bench.items()
    assert [it.reference for it in items] == [r["label"] for r in rows]
    assert "Drug0" in items[0].messages[-1]["content"]


def test_an_unknown_benchmark_name_suggests_the_closest():
    with pytest.raises(BenchmarkError, match="Did you mean 'ddi-binary'"):
        benchmarks.load("ddi-binar")


# -- bad benchmark files ---------------------------------------------------------------------------------------
def _without(spec: dict, key: str) -> dict:
    return {k: v for k, v in spec.items() if k != key}


BAD = {
    # case: (change to the good spec, field the message names, other text the message must contain)
    "missing dataset": (lambda s: _without(s, "dataset"), "'dataset'", "missing"),
    "missing metrics": (lambda s: _without(s, "metrics"), "'metrics'", "missing"),
    "empty metrics": (lambda s: {**s, "metrics": []}, "'metrics'", "missing"),
    "unknown field": (lambda s: {**s, "metric": ["accuracy"]}, "'metric'", "Did you mean 'metrics'"),
    "unknown metric": (lambda s: {**s, "metrics": ["clasification"]}, "metrics",
                       "Did you mean 'classification'"),
    "kind mismatch": (lambda s: {**s, "metrics": ["regression"]}, "metrics", "parser"),
    "input not mapped": (lambda s: {**s, "parser": "text", "metrics": ["keyword_recall"]}, "inputs", "'keywords'"),
    "unknown prompt key": (lambda s: {**s, "prompt": "ddi.no_such_prompt"}, "prompt", "prompts/ddi.yaml"),
    "unknown prompt file": (lambda s: {**s, "prompt": "nofile.binary"}, "prompt", "prompts/nofile.yaml"),
    "unknown variant prompt": (lambda s: {**s, "variants": [{"name": "v", "prompt": "ddi.nope"}]}, "prompt",
                               "ddi.nope"),
    "unknown generation setting": (lambda s: {**s, "generation": {"max_tokens": 8}}, "generation", "max_tokens"),
    "unknown parser": (lambda s: {**s, "parser": "lable"}, "parser", "Did you mean 'label'"),
    "unknown metric option": (lambda s: {**s, "metrics": [{"name": "classification", "bogus": 1}]}, "metrics",
                              "'bogus'"),
    "bad few-shot rule": (lambda s: {**s, "few_shot": {"k": 2, "select": "best"}}, "few_shot.select", "balanced"),
    "unknown few-shot field": (lambda s: {**s, "few_shot": {"n": 2}}, "few_shot", "'n'"),
    "label parser without labels": (lambda s: _without(s, "labels"), "labels", "class names"),
    "derived metric alone": (lambda s: {**s, "parser": "text", "metrics": ["questeval_f1_hmean"]}, "metrics",
                             "list questeval"),
    "metrics not a list": (lambda s: {**s, "metrics": "classification"}, "metrics", "expected a list"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_benchmark_file_names_the_file_and_the_field(case, tmp_path, dataset):
    change, field, text = BAD[case]
    path = tmp_path / "bad-bench.yaml"
    path.write_text(yaml.safe_dump(change(base_spec(dataset))), encoding="utf-8")
    with pytest.raises(BenchmarkError) as info:
        benchmarks.load(path)
    message = str(info.value)
    assert str(path) in message
    assert field in message
    assert text in message


def test_the_good_spec_of_these_cases_loads(tmp_path, dataset):
    path = tmp_path / "good.yaml"
    path.write_text(yaml.safe_dump(base_spec(dataset)), encoding="utf-8")
    bench = benchmarks.load(path)
    assert bench.name == "tiny-ddi" and bench.labels == LABELS and bench.generation == {"max_new_tokens": 8}
    assert [m.name for m in bench.metrics] == ["classification"]


@pytest.mark.parametrize("generation", [{"max_new_tokens": 0}, {"temperature": -1}, {"top_p": 2}])
def test_bad_generation_values_name_the_file_and_the_field(generation, tmp_path, dataset):
    path = tmp_path / "bad-generation.yaml"
    path.write_text(yaml.safe_dump(base_spec(dataset, generation=generation)), encoding="utf-8")
    with pytest.raises(BenchmarkError) as info:
        benchmarks.load(path)
    assert str(path) in str(info.value) and "generation" in str(info.value)


@pytest.mark.parametrize("change, field", [
    ({"few_shot": {"k": "two"}}, "few_shot"),
    ({"labels": "interaction"}, "labels"),
    ({"variants": [{"name": "a"}, {"name": "a"}]}, "variants"),
])
def test_wrongly_typed_fields_are_refused_at_load(change, field, tmp_path, dataset):
    path = tmp_path / "typed.yaml"
    path.write_text(yaml.safe_dump(base_spec(dataset, **change)), encoding="utf-8")
    with pytest.raises(BenchmarkError) as info:
        bench = benchmarks.load(path)
        bench.items(bench.variant_names()[0])
    assert str(path) in str(info.value) and field in str(info.value)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\nmetrics: x\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match="not valid YAML") as info:
        benchmarks.load(path)
    assert str(path) in str(info.value)


def test_a_benchmark_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- dataset\n- metrics\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match="mapping of fields") as info:
        benchmarks.load(path)
    assert str(path) in str(info.value)


def test_a_missing_benchmark_file_is_named(tmp_path):
    with pytest.raises(BenchmarkError, match="No benchmark file"):
        benchmarks.load(tmp_path / "absent.yaml")


def test_a_dataset_with_a_broken_line_fails_with_its_line_number(tmp_path):
    rows = ddi_rows(3)
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[1]) + "\n{\"messages\": [broken\n", encoding="utf-8")
    bench = benchmarks.from_dict(base_spec(path), tmp_path / "b.yaml")
    with pytest.raises(BenchmarkError) as info:
        bench.items()
    message = str(info.value)
    assert "failed validation" in message and "broken.jsonl" in message
    assert "line 3" in message


def test_a_missing_dataset_file_is_named(tmp_path):
    bench = benchmarks.from_dict(base_spec(tmp_path / "absent.jsonl"), tmp_path / "b.yaml")
    with pytest.raises(BenchmarkError, match="absent.jsonl"):
        bench.items()


def test_an_item_without_its_reference_is_named(tmp_path):
    rows = ddi_rows(3)
    del rows[1]["meta"]["label"]
    bench = benchmarks.from_dict(base_spec(write_jsonl(tmp_path / "d.jsonl", rows)), tmp_path / "b.yaml")
    with pytest.raises(BenchmarkError, match=r"item 2: no reference \('label'"):
        bench.items()


def test_a_prompt_field_the_record_lacks_is_named(tmp_path, dataset):
    bench = benchmarks.from_dict(base_spec(dataset, prompt="ddi.binary"), tmp_path / "b.yaml")
    with pytest.raises(BenchmarkError, match=r"item 1: the prompt needs \{drug1\}"):
        bench.items()


def test_an_unknown_variant_is_named(tmp_path, dataset):
    bench = benchmarks.from_dict(base_spec(dataset), tmp_path / "b.yaml")
    assert bench.variant_names() == ["default"]
    with pytest.raises(BenchmarkError, match="no prompt variant 'other'"):
        bench.items("other")


# -- items ------------------------------------------------------------------------------------------------------
def test_items_follow_the_dataset_with_ids_references_and_limit(tmp_path, dataset):
    bench = benchmarks.from_dict(base_spec(dataset), tmp_path / "b.yaml")
    items = bench.items()
    assert [it.index for it in items] == list(range(6))
    assert [it.id for it in items] == [f"pair-{i}" for i in range(6)]
    assert [it.reference for it in items] == [LABELS[i % 2] for i in range(6)]
    assert items[0].messages == [{"role": "user", "content": "Do drug A0 and drug B0 interact? Expected: interaction"}]
    assert [it.id for it in bench.items(limit=2)] == ["pair-0", "pair-1"]


def test_items_without_an_id_are_numbered(tmp_path):
    rows = ddi_rows(3)
    for r in rows:
        del r["meta"]["id"]
    bench = benchmarks.from_dict(base_spec(write_jsonl(tmp_path / "d.jsonl", rows)), tmp_path / "b.yaml")
    assert [it.id for it in bench.items()] == ["0", "1", "2"]


def test_answer_reference_and_metric_inputs_come_from_the_record(tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": f"answer {i}"}],
             "meta": {"kw": [f"k{i}"]}} for i in range(2)]
    spec = {"dataset": str(write_jsonl(tmp_path / "d.jsonl", rows)), "metrics": ["keyword_recall"],
            "inputs": {"keywords": "kw"}}
    bench = benchmarks.from_dict(spec, tmp_path / "kw.yaml")
    assert bench.name == "kw"  # the file's stem when the file has no name
    items = bench.items()
    assert [it.reference for it in items] == ["answer 0", "answer 1"]
    assert [it.inputs for it in items] == [{"keywords": ["k0"]}, {"keywords": ["k1"]}]


def test_a_template_fills_meta_fields_and_keeps_its_system(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "ignored"}, {"role": "assistant", "content": "-1.5"}],
             "meta": {"smiles": "CCO", "label": -1.5}}]
    spec = {"dataset": str(write_jsonl(tmp_path / "d.jsonl", rows)), "prompt": "datasets.solubility",
            "reference": "label", "parser": "number", "metrics": ["regression"]}
    item = benchmarks.from_dict(spec, tmp_path / "s.yaml").items()[0]
    assert item.messages[0]["role"] == "system" and "number only" in item.messages[0]["content"]
    assert item.messages[1] == {"role": "user", "content": "SMILES: CCO\nWhat is the aqueous solubility of this "
                                                           "molecule, as log10(mol/L)?"}
    assert item.reference == -1.5


def test_few_shot_k2_balanced_puts_one_example_of_each_label_before_the_question(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", ddi_rows(8, system="Answer with a label."))
    bench = benchmarks.from_dict(base_spec(path, few_shot={"k": 2, "select": "balanced", "seed": 3}), tmp_path / "b.yaml")
    by_user = {r["messages"][0]["content"]: r["meta"]["label"] for r in ddi_rows(8)}
    for item in bench.items(limit=3):
        m = item.messages
        assert [x["role"] for x in m] == ["system", "user", "assistant", "user", "assistant", "user"]
        assert m[0]["content"] == "Answer with a label."
        assert {m[2]["content"], m[4]["content"]} == set(LABELS)
        # each example's answer is that example's own label
        assert by_user[m[1]["content"]] == m[2]["content"] and by_user[m[3]["content"]] == m[4]["content"]
        assert m[-1]["content"] == f"Do drug A{item.index} and drug B{item.index} interact? Expected: {item.reference}"
    # the same examples before every question that is not one of them (an example is never its own shot), and
    # the same again on a second build (seeded)
    items = bench.items()
    shots = [it.messages[1:5] for it in items]
    picked = {m["content"] for s in shots for m in s if m["role"] == "user"}
    outside = [s for it, s in zip(items, shots) if it.messages[-1]["content"] not in picked]
    assert len(outside) >= len(items) - 3 and all(s == outside[0] for s in outside)
    assert bench.items()[0].messages == benchmarks.from_dict(
        base_spec(path, few_shot={"k": 2, "select": "balanced", "seed": 3}), tmp_path / "b.yaml").items()[0].messages


def test_an_item_is_never_its_own_few_shot_example(tmp_path, dataset):
    bench = benchmarks.from_dict(base_spec(dataset, few_shot={"k": 2, "select": "first"}), tmp_path / "b.yaml")
    for item in bench.items():
        examples = [m["content"] for m in item.messages[:-1] if m["role"] == "user"]
        assert item.messages[-1]["content"] not in examples


def test_few_shot_first_takes_the_first_records(tmp_path, dataset):
    bench = benchmarks.from_dict(base_spec(dataset, few_shot={"k": 3, "select": "first"}), tmp_path / "b.yaml")
    m = bench.items()[5].messages  # an item that is not among the first records
    assert [x["content"] for x in m if x["role"] == "assistant"] == [LABELS[0], LABELS[1], LABELS[0]]
    assert m[0]["content"].startswith("Do drug A0 ") and m[2]["content"].startswith("Do drug A1 ")
    first = bench.items()[0].messages  # the first record itself gets the next three instead
    assert [x["content"] for x in first if x["role"] == "user"][0].startswith("Do drug A1 ")


def test_config_hash_changes_with_what_makes_results_incomparable(tmp_path, dataset):
    def hash_of(**fields):
        return benchmarks.from_dict(base_spec(dataset, **fields), tmp_path / "b.yaml").config_hash()

    same = hash_of()
    assert same == hash_of()
    assert same == benchmarks.from_dict(base_spec(dataset), tmp_path / "elsewhere" / "b.yaml").config_hash()
    assert hash_of(generation={"max_new_tokens": 9}) != same
    assert hash_of(prompt="datasets.drug_qa") != same
    assert hash_of(few_shot={"k": 1}) != same
    assert hash_of(metrics=[{"name": "classification", "positive": "no interaction"}]) != same
    bench = benchmarks.from_dict(base_spec(dataset), tmp_path / "b.yaml")
    assert bench.config_hash(limit=3) != bench.config_hash(limit=4) != same
