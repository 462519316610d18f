"""Number metrics for property prediction (solubility, hydration free energy): RMSE, MAE and R² (scikit-learn).

The parser reads the first number of a free-text answer; answers without one are counted, not scored, so
a model that answers in words shows up in `unparsed_numbers` instead of silently lowering the error.
"""
from __future__ import annotations

import math
import numbers
import re

from evaluation.metrics import MetricError, register

# Minus signs models write besides "-": U+2212 (minus), U+2012 (figure dash), U+2013 (en dash).
_MINUS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-"})
# Not glued to a word or a decimal point (so "IC50" and "CYP3A4" give no number); "1,234.5" keeps its
# thousands separators only when they group exactly three digits.
_NUMBER = re.compile(r"(?<![\w.])[+-]?(?:\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(text) -> float | None:
    """The first number in the answer, or None when it has none. A float or int passes through.

    >>> parse_number("≈ −3.2 kcal/mol")
    -3.2
    >>> parse_number("The value is 1,234.5 (IC50 ~ 1e-3 M).")
    1234.5
    >>> print(parse_number("I cannot tell."))
    None
    """
    if isinstance(text, numbers.Real) and not isinstance(text, bool):
        return None if math.isnan(text) else float(text)
    if text is None:
        return None
    match = _NUMBER.search(str(text).translate(_MINUS))
    return float(match.group().replace(",", "")) if match else None


def _reference(value, i: int) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MetricError(f"regression: reference {i} is {value!r}, not a number") from None
    if math.isnan(number):
        raise MetricError(f"regression: reference {i} is NaN")
    return number


def absolute_error(prediction, reference, **_) -> float | None:
    """|prediction − reference|, or None when the answer has no number."""
    number = parse_number(prediction)
    return None if number is None else abs(number - float(reference))


@register("regression", kind="number", item_fn=absolute_error,
          description="RMSE, MAE and R² of the numbers parsed from the answers; answers without one are counted.",
          outputs={"rmse": False, "mae": False, "r2": True, "unparsed_numbers": False})
def regression(predictions: list, references: list) -> dict:
    """RMSE, MAE and R² by scikit-learn over the items whose answer has a number.

    Predictions are parsed numbers (None: no number), floats from a regression head, or raw text (parsed
    here). R² needs two scored items; with fewer it is None. With none scored, all three are None.

    >>> regression([-1.0, None, 2.0, "about 4"], [-2.0, 0.5, 2.0, "3"])
    {'rmse': 0.816496580927726, 'mae': 0.6666666666666666, 'r2': 0.8571428571428572, 'unparsed_numbers': 1, \
'scored_items': 3}
    """
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    gold_all = [_reference(reference, i) for i, reference in enumerate(references)]
    pairs = [(number, gold) for prediction, gold in zip(predictions, gold_all)
             if (number := parse_number(prediction)) is not None]
    result = {"rmse": None, "mae": None, "r2": None, "unparsed_numbers": len(predictions) - len(pairs),
              "scored_items": len(pairs)}
    if pairs:
        guess, gold = [p for p, _ in pairs], [g for _, g in pairs]
        result["rmse"] = float(root_mean_squared_error(gold, guess))
        result["mae"] = float(mean_absolute_error(gold, guess))
        result["r2"] = float(r2_score(gold, guess)) if len(pairs) > 1 else None
    return result


@register("cliff_regression", kind="number", item_fn=absolute_error,
          description="RMSE and MAE on activity-cliff molecules only (MoleculeACE's RMSE_cliff); the benchmark "
                      "picks them with where: {cliff_mol: 1}.",
          outputs={"rmse_cliff": False, "mae_cliff": False})
def cliff_regression(predictions: list, references: list) -> dict:
    """The regression metric's RMSE and MAE under their own names, for the items a benchmark gives it: with
    `where: {cliff_mol: 1}` that is the activity-cliff molecules, whose error MoleculeACE reports beside the
    overall one (a model that learns smooth structure-activity trends does worst on them). The count of
    answers without a number is under `cliff_unparsed_numbers`.

    >>> cliff_regression([6.0, "7.5", None], [7.0, 7.0, 8.0])
    {'rmse_cliff': 0.7905694150420949, 'mae_cliff': 0.75, 'cliff_items': 3, 'cliff_unparsed_numbers': 1}
    """
    overall = regression(predictions, references)
    return {"rmse_cliff": overall["rmse"], "mae_cliff": overall["mae"], "cliff_items": len(predictions),
            "cliff_unparsed_numbers": overall["unparsed_numbers"]}
