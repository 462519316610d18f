"""Number parsing and the regression metric: its numbers are scikit-learn's on the parsed items."""
from __future__ import annotations

import math

import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from evaluation import parsers
from evaluation.metrics import METRICS, MetricError
from evaluation.metrics.regression import absolute_error, parse_number, regression


@pytest.mark.parametrize("text,expected", [
    ("-1.23", -1.23),
    ("+2", 2.0),
    ("1e-3", 0.001),
    ("2.5E+2", 250.0),
    ("−4.5", -4.5),  # U+2212 minus sign
    ("–0.8 log units", -0.8),  # en dash as minus
    ("1,234.5", 1234.5),
    ("10,000 mg", 10000.0),
    ("≈ -3.2 kcal/mol", -3.2),
    ("The value is -6.62.", -6.62),
    ("logS = -2.10", -2.1),
    ("~ .5", 0.5),
    ("The IC50 of CYP3A4 inhibition is 5 nM", 5.0),  # numbers glued to words are names, not values
    ("ΔG_hyd: -9.3 (kcal/mol), error 0.6", -9.3),
    ("I cannot predict that.", None),
    ("", None),
    (None, None),
])
def test_parse_number(text, expected):
    assert parse_number(text) == expected


def test_parse_number_takes_numbers_as_they_are():
    assert parse_number(-3) == -3.0 and parse_number(2.5) == 2.5
    assert parse_number(float("nan")) is None


def test_number_parser_drops_reasoning_first():
    assert parsers.get("number").fn("<think>maybe 3 or 4</think> -2.5") == -2.5


def test_equals_scikit_learn_on_parsed_items():
    answers = ["-2.1", "The solubility is about −3.4 log mol/L.", "no idea", "0.5", "≈ 1,200", "-7"]
    refs = [-2.0, "-3.0", 1.0, 0.7, 1180.0, -6.5]
    result = regression([parse_number(a) for a in answers], refs)
    pred = [-2.1, -3.4, 0.5, 1200.0, -7.0]
    gold = [-2.0, -3.0, 0.7, 1180.0, -6.5]
    assert result["rmse"] == pytest.approx(math.sqrt(mean_squared_error(gold, pred)), rel=1e-12)
    assert result["mae"] == mean_absolute_error(gold, pred)
    assert result["r2"] == r2_score(gold, pred)
    assert result["unparsed_numbers"] == 1 and result["scored_items"] == 5


def test_takes_floats_from_a_regression_head_and_raw_text():
    gold = [1.0, 2.0, 4.0]
    assert regression([1.5, 2.0, 3.0], gold) == regression(["1.5", "It is 2.", "3"], gold)
    assert regression([1.5, 2.0, 3.0], gold)["r2"] == r2_score(gold, [1.5, 2.0, 3.0])


def test_nothing_parsed_and_one_parsed():
    assert regression([None, "none"], [1.0, 2.0]) == {"rmse": None, "mae": None, "r2": None,
                                                      "unparsed_numbers": 2, "scored_items": 0}
    one = regression([1.5, None], [1.0, 2.0])
    assert (one["rmse"], one["mae"], one["r2"], one["scored_items"]) == (0.5, 0.5, None, 1)


def test_bad_reference_is_an_error():
    with pytest.raises(MetricError, match="reference 1 is 'high'"):
        regression([1.0, None], [1.0, "high"])


def test_item_fn_and_registry_entry():
    assert absolute_error("-3.5", -3.0) == 0.5
    assert absolute_error(None, 1.0) is None
    metric = METRICS["regression"]
    assert metric.kind == "number" and metric.item_fn is absolute_error
    assert metric.outputs == {"rmse": False, "mae": False, "r2": True, "unparsed_numbers": False}
