"""Combined metrics: values derived from other metrics' outputs (they get them as `scores=`)."""
from __future__ import annotations

from evaluation.metrics import MetricError, register


@register("questeval_f1_hmean", description="Harmonic mean of QuestEval and token F1 (the LoRA-rank study's score).",
          outputs={"questeval_f1_hmean": True}, derived_from=("questeval", "token_f1"))
def questeval_f1_hmean(predictions: list[str], references: list[str], scores: dict) -> dict:
    """One number that needs both factual consistency (QuestEval) and wording overlap (F1) to be high.

    >>> questeval_f1_hmean(["x"], ["y"], scores={"questeval": 0.6, "token_f1": 0.3})
    {'questeval_f1_hmean': 0.4}
    """
    missing = [name for name in ("questeval", "token_f1") if name not in scores]
    if missing:
        raise MetricError(f"questeval_f1_hmean needs the scores of {' and '.join(missing)} first")
    a, b = scores["questeval"], scores["token_f1"]
    if a is None or b is None:
        return {"questeval_f1_hmean": None}
    a, b = float(a), float(b)
    return {"questeval_f1_hmean": 0.0 if a <= 0 or b <= 0 else 2 * a * b / (a + b)}
