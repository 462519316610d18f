"""DDI classification as a Hugging Face `evaluate` module: labels parsed from raw answers, then accuracy,
precision, recall, F1, MCC and the unparseable count.

Load it offline with `evaluate.load("evaluation/hf_metrics/ddi_classification")`. The numbers come from
PharmaTune's own parser and metric (evaluation.metrics.classification), so they equal the app's leaderboard.
Each import sits on its own line: evaluate reads this file's import lines to check its dependencies.
"""
import importlib.util
import json
import sys
from pathlib import Path

import datasets
import evaluate

BINARY = ["interaction", "no interaction"]
SEVERITY = ["danger", "warning", "caution"]

_DESCRIPTION = """Parses each raw answer into a label (the first label it states; "no interaction" and "do not
interact" never count as "interaction"; None when it states none), then scores with scikit-learn: accuracy,
precision, recall, f1, mcc (binary for two labels, macro averages for more) and unparseable (count).
Unparseable answers count as wrong."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): raw model answers; reasoning blocks (<think>...</think>) are dropped.
    references (list of str): gold labels.
    labels (list of str, optional): the label set, in confusion-matrix order. Default: the DDI binary labels
        when every reference is one, else the severity labels (danger, warning, caution) when every
        reference is one, else the sorted gold labels.
    positive (str, optional): the positive class of a binary task; default the first label ("interaction").
    aliases (dict, optional): label -> extra phrasings (regular expressions) for the parser.
Returns:
    accuracy, precision, recall, f1, mcc (floats), unparseable (int), confusion_matrix (dict with labels,
    columns and matrix; the last column counts unparseable answers per gold label), average ("binary"/"macro").
Examples:
    >>> metric = evaluate.load("evaluation/hf_metrics/ddi_classification")
    >>> result = metric.compute(predictions=["Yes, they interact.", "These drugs do not interact.", "Not sure."],
    ...                         references=["interaction", "interaction", "no interaction"])
    >>> result["accuracy"], result["unparseable"]
    (0.3333333333333333, 1)
"""

_CITATION = """Pedregosa F. et al., Scikit-learn: Machine Learning in Python, JMLR 12, 2011."""


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
    raise ImportError("ddi_classification needs the PharmaTune repository (its `evaluation` package) on sys.path")


_put_repo_on_path()


def default_labels(references) -> list:
    """The DDI binary or severity label set when the references fit one, else the sorted gold labels."""
    gold = {str(r).strip().lower() for r in references}
    for labels in (BINARY, SEVERITY):
        if gold <= set(labels):
            return list(labels)
    return sorted({str(r).strip() for r in references})


class DdiClassification(evaluate.Metric):
    """Accuracy, precision, recall, F1 and MCC of labels parsed from raw DDI answers."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html"],
        )

    def _compute(self, predictions, references, labels=None, positive=None, aliases=None):
        from evaluation import parsers
        from evaluation.metrics import classification

        labels = list(labels) if labels else default_labels(references)
        parsed = [parsers.get("label").fn(answer or "", labels=labels, aliases=aliases) for answer in predictions]
        return classification.classification(parsed, references, labels=labels, positive=positive)
