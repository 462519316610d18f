"""QuestEval-style factual consistency as a Hugging Face `evaluate` module, wrapping PharmaTune's `questeval` metric.

Load it offline with `evaluate.load("<repo>/evaluation/hf_metrics/questeval_style")`. evaluate reads this file's
top-level import lines to check dependencies, so each import has its own line and the PharmaTune imports happen
inside functions (`evaluation` is not a PyPI package).
"""
import importlib
import json
import sys
from pathlib import Path

import datasets
import evaluate

_CITATION = """\
@inproceedings{scialom-etal-2021-questeval,
    title = "{Q}uest{E}val: Summarization Asks for Fact-based Evaluation",
    author = "Scialom, Thomas and Dray, Paul-Alexis and Lamprier, Sylvain and Piwowarski, Benjamin and
              Staiano, Jacopo and Wang, Alex and Gallinari, Patrick",
    booktitle = "Proceedings of EMNLP 2021",
    year = "2021",
    pages = "6594--6604",
}
"""

_DESCRIPTION = """\
QuestEval-style score with a judge model you choose. The judge writes short questions that the reference answers
(recall side) and that the prediction answers (precision side), then answers each question from both texts; the
two answers are compared with SQuAD token F1, "unanswerable" from the other text scores 0, and questions the
judge cannot answer from their own text are dropped. The score is the harmonic mean of precision and recall.
Judge outputs are cached under PharmaTune's cache folder (PHARMATUNE_CACHE).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of generated texts.
    references: list of reference texts, one per prediction.
    judge: PharmaTune model reference of the judge (default builtin:smollm2-135m-instruct); any builtin:, hf:,
        run: or openai: model, or dummy:judge for a weight-free test judge.
    questions_per_text: questions the judge writes per text, at most (default 3).
    batch_size: conversations per judge call (default 8).
Returns:
    questeval: harmonic mean of precision and recall, in [0, 1] (None when no text gave a usable question);
    questeval_precision, questeval_recall: the two sides;
    questeval_judge, questeval_questions, questeval_items_left_out, questeval_judge_calls: what was asked.
Examples:
    >>> metric = evaluate.load("evaluation/hf_metrics/questeval_style")
    >>> r = metric.compute(predictions=["Warfarin is an anticoagulant."],
    ...                    references=["Warfarin is an anticoagulant. It is cleared by CYP2C9 in the liver."],
    ...                    judge="dummy:judge")
    >>> round(r["questeval"], 3), r["questeval_precision"], r["questeval_recall"]
    (0.667, 1.0, 0.5)
"""

_MODULE = "evaluation.metrics.questeval"


def _repo_roots():
    """Where the repository may be: evaluate.load runs a copy of this file and notes the original beside it."""
    here = Path(__file__).resolve()
    yield here.parents[3]
    meta = here.with_suffix(".json")
    if meta.is_file():
        original = json.loads(meta.read_text(encoding="utf-8")).get("original file path")
        if original:
            yield Path(original).resolve().parents[3]
    yield Path.cwd()


def _questeval():
    """PharmaTune's metric function, putting the repository on sys.path when it is not importable yet."""
    try:
        return importlib.import_module(_MODULE).questeval
    except ModuleNotFoundError as exc:
        if exc.name not in ("evaluation", "evaluation.metrics", _MODULE):
            raise
    for root in _repo_roots():
        if (root / "evaluation" / "metrics" / "questeval.py").is_file():
            sys.path.insert(0, str(root))
            return importlib.import_module(_MODULE).questeval
    raise ModuleNotFoundError(
        "questeval_style needs the PharmaTune repository: run from its root or load the module from its folder.")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class QuestevalStyle(evaluate.Metric):
    """QuestEval-style precision, recall and their harmonic mean, judged by a model you choose."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Value("string"),
                "references": datasets.Value("string"),
            }),
            reference_urls=["https://arxiv.org/abs/2103.12693", "https://github.com/ThomasScialom/QuestEval"],
        )

    def _compute(self, predictions, references, judge=None, questions_per_text=3, batch_size=8):
        return _questeval()(list(predictions), list(references), judge=judge,
                            questions_per_text=questions_per_text, batch_size=batch_size)
