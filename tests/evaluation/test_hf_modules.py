"""The Hugging Face `evaluate` modules load offline from their folders and give the registry metrics' numbers."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from evaluation import parsers
from evaluation.metrics.classification import classification
from evaluation.metrics.smiles import smiles_exact_match, smiles_validity, tanimoto

HF = Path(__file__).resolve().parents[2] / "evaluation" / "hf_metrics"
MODULES = ("smiles_metrics", "ddi_classification")


@pytest.mark.parametrize("name", MODULES)
def test_module_files_import_one_module_per_line(name):
    """evaluate reads the import lines to check dependencies; `import a, b` or a top-level import of our own
    package (not importable before the module puts the repository on sys.path) would break loading."""
    folder = HF / name
    assert (folder / "README.md").is_file()
    tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Import):
            assert len(node.names) == 1, ast.unparse(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assert "evaluation" not in ast.unparse(node), ast.unparse(node)


@pytest.fixture(scope="module")
def load():
    evaluate = pytest.importorskip("evaluate")
    return lambda name: evaluate.load(str(HF / name))


@pytest.mark.slow
def test_smiles_module_equals_the_registry_metrics(load):
    answers = ["The SMILES is OC(=O)c1ccccc1OC(C)=O.", "CCO and C1CC", "I do not know.",
               "<think>CCN?</think>`CC(C)Cc1ccc(C(C)C(=O)O)cc1`"]
    references = ["CC(=O)Oc1ccccc1C(=O)O", "OCC", "CCO", "CC(=O)Oc1ccccc1C(=O)O"]
    found = [parsers.get("smiles").fn(a) for a in answers]
    expected = {**smiles_validity(found, references), **smiles_exact_match(found, references),
                **tanimoto(found, references)}
    result = load("smiles_metrics").compute(predictions=answers, references=references)
    assert result == expected
    assert result["smiles_validity"] == 0.75 and result["smiles_exact_match"] == 0.5


@pytest.mark.slow
def test_ddi_module_equals_the_registry_metric(load):
    metric = load("ddi_classification")
    answers = ["Yes, they interact.", "These drugs do not interact.", "No clinically relevant interaction.",
               "Interaction. Actually no interaction", "I am not sure."]
    references = ["interaction", "interaction", "no interaction", "no interaction", "no interaction"]
    labels = ["interaction", "no interaction"]
    parsed = [parsers.get("label").fn(a, labels=labels) for a in answers]
    assert parsed == ["interaction", "no interaction", "no interaction", "interaction", None]
    assert metric.compute(predictions=answers, references=references) == classification(parsed, references,
                                                                                        labels=labels)
    severity = ["danger", "warning", "caution"]
    answers = ["Major: avoid the combination.", "Warning", "minor", "caution", "moderate", "?"]
    references = ["danger", "warning", "warning", "caution", "danger", "caution"]
    parsed = [parsers.get("label").fn(a, labels=severity) for a in answers]
    result = metric.compute(predictions=answers, references=references)
    assert result == classification(parsed, references, labels=severity)
    assert result["average"] == "macro" and result["unparseable"] == 1
    flipped = metric.compute(predictions=answers[:2], references=["danger", "warning"], labels=["warning", "danger"],
                             positive="danger")
    assert flipped == classification(["danger", "warning"], ["danger", "warning"], labels=["warning", "danger"],
                                      positive="danger")


@pytest.mark.slow
def test_modules_load_from_outside_the_repository(tmp_path):
    """evaluate runs a cached copy of the module, so it must find the checkout without the caller's help."""
    import os
    import subprocess
    import sys

    code = ("import evaluate, sys\n"
            f"m = evaluate.load({str(HF / 'ddi_classification')!r})\n"
            "print(m.compute(predictions=['No known interaction.'], references=['no interaction'])['accuracy'])\n"
            f"m = evaluate.load({str(HF / 'smiles_metrics')!r})\n"
            "print(m.compute(predictions=['OCC'], references=['CCO'])['smiles_exact_match'])\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1.0", "1.0"]
