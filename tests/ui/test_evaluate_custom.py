"""Evaluate tab, "Your own benchmark": a raw file of DDI pairs + a template becomes a checked, saved benchmark that
the Benchmarks list offers; every mistake is a sentence naming the field, column or file, and nothing is saved."""
import json

import pytest

from ui import evaluate_custom as ec
from ui.job_tab import InputProblem

PAIRS = [{"drug1": f"Drug{i}", "drug2": f"Other{i}", "smiles1": "CCO", "smiles2": "c1ccccc1",
          "label": "interaction" if i % 2 else "no interaction"} for i in range(24)]


@pytest.fixture
def data_dir(tmp_path, monkeypatch, isolated_runs):
    folder = tmp_path / "data"
    (folder / "uploads").mkdir(parents=True)
    monkeypatch.setenv("PHARMATUNE_DATA", str(folder))
    return folder


@pytest.fixture
def pairs_file(data_dir):
    path = data_dir / "uploads" / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in PAIRS), encoding="utf-8")
    return path


def test_check_shows_counts_and_three_rendered_prompts(pairs_file):
    text = ec.check(ec.Form(dataset=str(pairs_file), template="ddi.binary", reference="label"))
    assert "24 items" in text and "interaction (12)" in text and "no interaction (12)" in text
    assert text.count("Prompt ") == 3 and "Drug0" in text and "Other2" in text and "Drug3" not in text
    assert "auroc" in text  # choice mode's default metrics


def test_saved_benchmark_is_listed_and_loads(pairs_file, data_dir):
    from evaluation import benchmark as benchmarks
    from ui import evaluate_tab

    form = ec.Form(dataset=str(pairs_file), template="ddi.binary", reference="label", name="my-pairs",
                   mode="both (two leaderboard rows)")
    assert ec.save(form) == "my-pairs"
    assert (data_dir / "benchmarks" / "my-pairs.yaml").is_file()
    bench = benchmarks.load("my-pairs")
    assert bench.modes == ["generate", "choice"] and bench.reference == "label"
    assert "my-pairs" in [name for _, name in evaluate_tab.benchmark_choices()[0]]


def test_a_typed_template_and_a_field_mapping(data_dir):
    path = data_dir / "uploads" / "named.csv"
    path.write_text("a,b,y\nAspirin,Warfarin,interaction\nWater,Salt,no interaction\n", encoding="utf-8")
    text = ec.check(ec.Form(dataset=str(path), template=ec.TYPED, user="Do {first} and {second} interact?",
                            fields="first=a, second=b", reference="y", labels="interaction, no interaction"))
    assert "Do Aspirin and Warfarin interact?" in text and "{first} ← `a`" in text


@pytest.mark.parametrize("form, message", [
    (dict(dataset=""), "Upload a file or type a data set"),
    (dict(template=ec.TYPED, user=" "), "The typed template is empty"),
    (dict(fields="drug1"), "'drug1' is not field=column"),
    (dict(reference="answer_column"), "answer_column"),
    (dict(fields="drug1=name_a"), "name_a"),
    (dict(dataset="/etc/passwd"), "/etc/passwd"),
])
def test_bad_input_is_a_sentence(pairs_file, form, message):
    values = dict(dataset=str(pairs_file), template="ddi.binary", reference="label")
    values.update(form)
    with pytest.raises(InputProblem, match=message):
        ec.check(ec.Form(**values))


def test_an_empty_file_and_a_bad_name_save_nothing(data_dir, pairs_file):
    empty = data_dir / "uploads" / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputProblem, match="no rows"):
        ec.save(ec.Form(dataset=str(empty), template="ddi.binary", reference="label", name="empty-one"))
    with pytest.raises(InputProblem, match="shipped benchmark"):
        ec.save(ec.Form(dataset=str(pairs_file), template="ddi.binary", reference="label", name="ddi-binary"))
    with pytest.raises(InputProblem, match="Give the benchmark a name"):
        ec.save(ec.Form(dataset=str(pairs_file), template="ddi.binary", reference="label"))
    assert not (data_dir / "benchmarks").exists() or not list((data_dir / "benchmarks").glob("*.yaml"))
