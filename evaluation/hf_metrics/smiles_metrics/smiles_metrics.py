"""SMILES metrics as a Hugging Face `evaluate` module: validity, exact match and Tanimoto of model answers.

Load it offline with `evaluate.load("evaluation/hf_metrics/smiles_metrics")`. The numbers come from
PharmaTune's own parser and metrics (evaluation.metrics.smiles), so they equal the app's leaderboard.
Each import sits on its own line: evaluate reads this file's import lines to check its dependencies.
"""
import importlib.util
import json
import sys
from pathlib import Path

import datasets
import evaluate

_DESCRIPTION = """Finds every SMILES-like token in each raw answer (valid or not), then reports
smiles_validity (valid / all SMILES found), smiles_found, smiles_exact_match (first valid SMILES equals the
reference after RDKit canonicalization) and tanimoto (Morgan radius 2, 2048 bits; 0 without a valid SMILES)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): raw model answers; reasoning blocks (<think>...</think>) are dropped.
    references (list of str): the reference molecule of each item, as a valid SMILES.
Returns:
    smiles_validity (float or None), smiles_found (int), items_without_smiles (int),
    smiles_exact_match (float), tanimoto (float).
Examples:
    >>> metric = evaluate.load("evaluation/hf_metrics/smiles_metrics")
    >>> metric.compute(predictions=["The SMILES is OCC.", "C1CC"], references=["CCO", "CCO"])
    {'smiles_validity': 0.5, 'smiles_found': 2, 'items_without_smiles': 0, 'smiles_exact_match': 0.5, 'tanimoto': 0.5}
"""

_CITATION = """Landrum G. et al., RDKit: Open-source cheminformatics, https://www.rdkit.org"""


def _put_repo_on_path() -> None:
    """Make PharmaTune's `evaluation` package importable. evaluate.load runs a copy of this file from its
    module cache, so three folders up from __file__ is the repo root only when the file is imported in place;
    otherwise the folder given to evaluate.load (read from its frame), evaluate's note of the original path,
    or the working directory leads to the checkout."""
    if importlib.util.find_spec("evaluation") is not None:
        return
    here = Path(__file__).resolve()
    starts = [here.parent]
    frame = sys._getframe()
    while frame is not None:
        if frame.f_globals.get("__name__") == "evaluate.loading" and isinstance(frame.f_locals.get("path"), str):
            starts.append(Path(frame.f_locals["path"]).resolve())
        frame = frame.f_back
    meta = here.with_suffix(".json")  # evaluate's note beside its copy, from the first load of this content
    if meta.is_file():
        original = Path(json.loads(meta.read_text(encoding="utf-8")).get("original file path", ""))
        if original.is_absolute():
            starts.append(original)
    starts.append(Path.cwd())
    for start in starts:
        for folder in (start, *start.parents):
            if (folder / "evaluation" / "metrics" / "__init__.py").is_file():
                sys.path.insert(0, str(folder))
                return
    raise ImportError("smiles_metrics needs the PharmaTune repository (its `evaluation` package) on sys.path")


_put_repo_on_path()


class SmilesMetrics(evaluate.Metric):
    """SMILES validity, canonical exact match and Morgan Tanimoto of raw model answers."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
            reference_urls=["https://www.rdkit.org"],
        )

    def _compute(self, predictions, references):
        from evaluation import parsers
        from evaluation.metrics import smiles

        found = [parsers.get("smiles").fn(answer or "") for answer in predictions]
        result = smiles.smiles_validity(found, references)
        result.update(smiles.smiles_exact_match(found, references))
        result.update(smiles.tanimoto(found, references))
        return result
