"""MoleculeACE: three of the package's ChEMBL sets as bundled regression data, and benchmarks that score RMSE
overall and on activity-cliff molecules alone."""
from __future__ import annotations

import csv
import json
import math

import pytest

from data import bundled
from data.bundled import moleculeace
from data.packages import package_file
from data.validation import validate
from evaluation import benchmark as benchmarks
from evaluation import metrics, runner
from evaluation.metrics.regression import cliff_regression

NAMES = list(moleculeace.TARGETS)


def package_rows(name: str) -> list[dict]:
    dataset, _ = moleculeace.TARGETS[name]
    path = package_file("MoleculeACE", f"Data/benchmark_data/{dataset}.csv")
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("moleculeace")
    bundled.build(NAMES, out_dir=out, log=lambda _: None)
    return out


def rows_of(folder, split):
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_the_three_sets_are_registered_with_a_benchmark_each():
    assert set(NAMES) <= set(bundled.BUNDLED)
    assert {name: moleculeace.TARGETS[name][0] for name in NAMES} == {
        "moleculeace-chembl2047-ec50": "CHEMBL2047_EC50", "moleculeace-chembl214-ki": "CHEMBL214_Ki",
        "moleculeace-chembl234-ki": "CHEMBL234_Ki"}
    assert set(NAMES) <= set(benchmarks.names())


@pytest.mark.parametrize("name", NAMES)
def test_each_set_keeps_the_package_split_labels_and_cliffs(built, name):
    source = package_rows(name)
    folder = built / name
    assert sorted(p.stem for p in folder.glob("*.jsonl")) == ["test", "train"]  # the package's split, no other
    for split in ("train", "test"):
        report, _ = validate(folder / f"{split}.jsonl")
        assert report.ok and report.errors == 0, report.text()
        rows = rows_of(folder, split)
        expected = [r for r in source if r["split"] == split]
        assert len(rows) == len(expected) > 100
        for row, want in zip(rows, expected):
            meta = row["meta"]
            assert meta["smiles"] == want["smiles"]
            # pKi / pEC50 in mol/L: 9 − log10(value in nM), which is 9 + the package's y
            assert meta["label"] == pytest.approx(9 - math.log10(float(want["exp_mean [nM]"])), abs=1e-9)
            assert meta["label"] == pytest.approx(9 + float(want["y"]), abs=1e-12)
            assert meta["cliff_mol"] == int(want["cliff_mol"]) and meta["task"] == "regression"
            assert row["messages"][-1]["content"] == f"{meta['label']:.2f}"
            assert want["smiles"] in row["messages"][1]["content"]
        assert 0 < sum(r["meta"]["cliff_mol"] for r in rows) < len(rows)
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "## Provenance" in readme and "## Licence" in readme and "MoleculeACE" in readme
    assert json.loads((folder / "manifest.json").read_text())["packages"] == {"MoleculeACE": "3.0.0"}


def test_the_prompt_names_the_measure_and_the_target(built):
    first = rows_of(built / "moleculeace-chembl234-ki", "test")[0]
    prompt = first["messages"][1]["content"]
    assert "pKi" in prompt and "dopamine D3 receptor" in prompt and "mol/L" in prompt
    fxr = rows_of(built / "moleculeace-chembl2047-ec50", "train")[0]["messages"][1]["content"]
    assert "pEC50" in fxr and "farnesoid X receptor" in fxr


def test_the_cliff_metric_is_rmse_and_mae_under_its_own_names():
    metric = metrics.get("cliff_regression")
    assert metric.kind == "number" and metric.outputs == {"rmse_cliff": False, "mae_cliff": False}
    r = cliff_regression([6.0, "about 7.5", "no idea"], [7.0, 7.0, 8.0])
    assert r["rmse_cliff"] == pytest.approx(math.sqrt((1 + 0.25) / 2)) and r["mae_cliff"] == pytest.approx(0.75)
    assert r["cliff_items"] == 3 and r["cliff_unparsed_numbers"] == 1


@pytest.mark.parametrize("name", NAMES)
def test_the_benchmark_scores_rmse_overall_and_on_cliff_molecules(name):
    bench = benchmarks.load(name)
    assert bench.dataset == f"bundled:{name}" and bench.split == "test" and bench.parser == "number"
    items = bench.items()
    rows = [r for r in package_rows(name) if r["split"] == "test"]
    assert len(items) == len(rows)
    assert all(it.messages[-1]["content"].startswith("SMILES: ") for it in items)
    # A model that answers each molecule's pKi off by an amount that is larger on cliff molecules, and gives no
    # number for every tenth item: the overall and cliff RMSE follow by hand, over the items with a number.
    outputs, errors = [], []
    for i, it in enumerate(items):
        off = 1.5 if it.meta["cliff_mol"] == 1 else 0.5
        if i % 10 == 9:
            outputs.append("I cannot tell.")
            continue
        sign = 1 if i % 2 else -1
        outputs.append(f"The p-value is about {it.reference + sign * off:.3f}")
        errors.append((it.meta["cliff_mol"], round(it.reference + sign * off, 3) - it.reference))
    values, details, _ = runner.score(bench, items, outputs, runner.Options())
    overall = math.sqrt(sum(e * e for _, e in errors) / len(errors))
    cliff = [e for c, e in errors if c == 1]
    assert values["rmse"] == pytest.approx(overall, abs=1e-9)
    assert values["rmse_cliff"] == pytest.approx(math.sqrt(sum(e * e for e in cliff) / len(cliff)), abs=1e-9)
    assert values["mae_cliff"] == pytest.approx(1.5, abs=1e-3) and values["rmse_cliff"] > values["rmse"]
    cliffs = sum(1 for r in rows if r["cliff_mol"] == "1")
    assert details["cliff_items"] == cliffs
    assert details["cliff_unparsed_numbers"] == sum(1 for i, it in enumerate(items)
                                                    if i % 10 == 9 and it.meta["cliff_mol"] == 1)
    assert values["unparsed_numbers"] == len(items) // 10
    # Both figures get their 95 % bootstrap interval, around the value
    for output in ("rmse", "rmse_cliff"):
        low, high = details["intervals"][output]
        assert low < values[output] < high
