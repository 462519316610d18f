"""Label parsing from free text and the classification metric: its numbers are scikit-learn's on the same inputs."""
from __future__ import annotations

import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, matthews_corrcoef, precision_recall_fscore_support

from evaluation import parsers
from evaluation.metrics import METRICS, MetricError
from evaluation.metrics.classification import DEFAULT_ALIASES, classification, label_match, parse_label

BINARY = ["interaction", "no interaction"]
SEVERITY = ["danger", "warning", "caution"]

PHRASINGS = [
    # the label itself, in any dress
    ("interaction", BINARY, "interaction"),
    ("no interaction", BINARY, "no interaction"),
    ("Interaction.", BINARY, "interaction"),
    ("**No interaction**", BINARY, "no interaction"),
    ("No_interaction", BINARY, "no interaction"),
    ("NO INTERACTION", BINARY, "no interaction"),
    ("Answer: interaction", BINARY, "interaction"),
    # "no interaction" contains "interaction" and must never count as it
    ("No, there is no interaction", BINARY, "no interaction"),
    ("There is no interaction between warfarin and metformin.", BINARY, "no interaction"),
    ("These drugs do not interact.", BINARY, "no interaction"),
    ("Metformin does not interact with amoxicillin.", BINARY, "no interaction"),
    ("There is no clinically relevant interaction.", BINARY, "no interaction"),
    ("No known interaction.", BINARY, "no interaction"),
    ("no significant interaction", BINARY, "no interaction"),
    ("They don't interact.", BINARY, "no interaction"),
    ("The drugs won’t interact.", BINARY, "no interaction"),
    ("There isn't any interaction between them.", BINARY, "no interaction"),
    ("Not a clinically significant interaction.", BINARY, "no interaction"),
    ("There is no evidence of an interaction.", BINARY, "no interaction"),
    ("An interaction is unlikely.", BINARY, "no interaction"),
    ("They can be co-administered without interaction.", BINARY, "no interaction"),
    ("Non-interacting pair.", BINARY, "no interaction"),
    # positive phrasings
    ("Yes, they interact.", BINARY, "interaction"),
    ("There is an interaction: fluconazole inhibits CYP2C9.", BINARY, "interaction"),
    ("The drugs interact via CYP3A4.", BINARY, "interaction"),
    ("Interactions are expected.", BINARY, "interaction"),
    ("No doubt, they interact.", BINARY, "interaction"),
    # a bare leading yes / no answers the binary question
    ("Yes", BINARY, "interaction"),
    ("yes.", BINARY, "interaction"),
    ("No.", BINARY, "no interaction"),
    ("No, they are safe together.", BINARY, "no interaction"),
    ("Answer: no", BINARY, "no interaction"),
    # the first label stated wins
    ("Interaction. Actually no interaction", BINARY, "interaction"),
    ("No interaction. Well, maybe an interaction.", BINARY, "no interaction"),
    ("Is there an interaction? No.", BINARY, "no interaction"),  # an echoed question states nothing
    ("The interaction between A and B is not clinically relevant.", BINARY, None),  # a topic mention
    # unparseable
    ("I am not sure", BINARY, None),
    ("Nope", BINARY, None),
    ("", BINARY, None),
    ("Please consult a pharmacist.", BINARY, None),
    # severity
    ("danger", SEVERITY, "danger"),
    ("Warning.", SEVERITY, "warning"),
    ("Caution: monitor the patient.", SEVERITY, "caution"),
    ("Danger - warning", SEVERITY, "danger"),
    ("Major", SEVERITY, "danger"),
    ("moderate", SEVERITY, "warning"),
    ("Minor, monitor.", SEVERITY, "caution"),
    ("Contraindicated.", SEVERITY, "danger"),
    ("Avoid the combination.", SEVERITY, "danger"),
    ("Use only with close monitoring.", SEVERITY, "warning"),
    ("This combination is dangerous.", SEVERITY, "danger"),
    ("I don't know", SEVERITY, None),
    ("Yes", SEVERITY, None),  # yes / no only mean something for the binary labels
]


@pytest.mark.parametrize("text,labels,expected", PHRASINGS)
def test_parse_label(text, labels, expected):
    assert parse_label(text, labels) == expected


def test_parse_label_returns_the_labels_own_spelling():
    assert parse_label("NO INTERACTION", ["Interaction", "No Interaction"]) == "No Interaction"
    assert parse_label("yes", ["Interaction", "No Interaction"]) == "Interaction"


def test_parse_label_extra_aliases_add_to_the_defaults():
    labels = ["danger", "warning", "caution"]
    assert parse_label("Life-threatening", labels) is None
    assert parse_label("Life-threatening", labels, {"danger": ["life-threatening"]}) == "danger"
    assert parse_label("Major", labels, {"danger": ["life-threatening"]}) == "danger"
    assert parse_label("a fatal combination", labels, {"Danger": r"fatal\s+combination"}) == "danger"
    assert set(DEFAULT_ALIASES) >= {"interaction", "no interaction", "danger", "warning", "caution"}


def test_parse_label_generic_labels_on_word_boundaries():
    assert parse_label("The answer is B.", ["A", "B", "C"]) == "B"
    assert parse_label("Bactericidal", ["A", "B", "C"]) is None


def test_parse_label_needs_labels():
    with pytest.raises(MetricError, match="labels"):
        parse_label("interaction", [])


def test_label_parser_drops_reasoning_first():
    parse = parsers.get("label").fn
    assert parse("<think>Is there an interaction? yes...</think>No interaction.", labels=BINARY) == "no interaction"


def test_binary_equals_scikit_learn():
    gold = ["interaction", "interaction", "no interaction", "no interaction", "interaction", "no interaction"]
    pred = ["interaction", "no interaction", "no interaction", "interaction", "interaction", "no interaction"]
    result = classification(pred, gold, labels=BINARY)
    p, r, f, _ = precision_recall_fscore_support(gold, pred, average="binary", pos_label="interaction")
    assert result["accuracy"] == accuracy_score(gold, pred)
    assert (result["precision"], result["recall"], result["f1"]) == (p, r, f)
    assert result["mcc"] == matthews_corrcoef(gold, pred)
    assert result["unparseable"] == 0 and result["average"] == "binary"


def test_positive_option_and_default_labels():
    gold = ["interaction", "no interaction", "no interaction", "interaction"]
    pred = ["interaction", "no interaction", "interaction", "no interaction"]
    default = classification(pred, gold)  # labels: sorted gold labels, positive: the first of them
    assert default["confusion_matrix"]["labels"] == BINARY
    flipped = classification(["no interaction", "no interaction", "interaction", "interaction"],
                             ["no interaction", "no interaction", "no interaction", "interaction"],
                             positive="no interaction")
    p, r, f, _ = precision_recall_fscore_support(
        ["no interaction", "no interaction", "no interaction", "interaction"],
        ["no interaction", "no interaction", "interaction", "interaction"],
        average="binary", pos_label="no interaction")
    assert (flipped["precision"], flipped["recall"], flipped["f1"]) == (p, r, f)
    with pytest.raises(MetricError, match="positive"):
        classification(pred, gold, positive="maybe")


def test_unparseable_counts_as_a_distinct_wrong_class():
    gold = ["interaction", "no interaction", "no interaction", "interaction", "no interaction"]
    pred = ["interaction", None, "no interaction", None, "interaction"]
    result = classification(pred, gold, labels=BINARY)
    stand_in = [p if p is not None else "UNPARSEABLE" for p in pred]
    assert result["accuracy"] == accuracy_score(gold, stand_in) == 0.4  # None stays in the denominator
    p, r, f, _ = precision_recall_fscore_support(gold, stand_in, labels=["interaction"], average=None)
    assert (result["precision"], result["recall"], result["f1"]) == (p[0], r[0], f[0])
    assert result["mcc"] == matthews_corrcoef(gold, stand_in)
    assert result["unparseable"] == 2
    # an unparseable answer to a "no interaction" item is not a correct negative
    as_negative = classification(["interaction", "no interaction", "no interaction", None, "interaction"], gold)
    assert result["accuracy"] < as_negative["accuracy"]
    assert result["confusion_matrix"] == {
        "labels": BINARY, "columns": BINARY + ["unparseable"], "matrix": [[1, 0, 1], [1, 1, 1]]}


def test_predictions_that_are_no_label_are_unparseable():
    result = classification(["Interaction ", "banana"], ["interaction", "no interaction"], labels=BINARY)
    assert result["unparseable"] == 1 and result["accuracy"] == 0.5  # case and spaces do not matter


def test_severity_uses_macro_averages_from_scikit_learn():
    gold = ["danger", "warning", "caution", "warning", "danger", "caution", "warning"]
    pred = ["danger", "caution", "caution", "warning", None, "warning", "warning"]
    result = classification(pred, gold, labels=SEVERITY)
    stand_in = [p or "UNPARSEABLE" for p in pred]
    p, r, f, _ = precision_recall_fscore_support(gold, stand_in, labels=SEVERITY, average="macro", zero_division=0)
    assert result["average"] == "macro"
    assert result["accuracy"] == accuracy_score(gold, stand_in)
    assert (result["precision"], result["recall"], result["f1"]) == (p, r, f)
    assert result["mcc"] == matthews_corrcoef(gold, stand_in)
    expected = confusion_matrix(gold, stand_in, labels=SEVERITY + ["UNPARSEABLE"])[:3].tolist()
    assert result["confusion_matrix"]["matrix"] == expected
    assert [row[-1] for row in result["confusion_matrix"]["matrix"]] == [1, 0, 0]


def test_all_correct_and_all_unparseable():
    perfect = classification(BINARY, BINARY)
    assert {k: perfect[k] for k in ("accuracy", "precision", "recall", "f1", "mcc")} == dict.fromkeys(
        ("accuracy", "precision", "recall", "f1", "mcc"), 1.0)
    nothing = classification([None, None], BINARY, labels=BINARY)
    assert (nothing["accuracy"], nothing["precision"], nothing["f1"], nothing["unparseable"]) == (0.0, 0.0, 0.0, 2)


def test_reference_outside_the_labels_is_an_error():
    with pytest.raises(MetricError, match="reference 1 is 'maybe'"):
        classification(["interaction", "interaction"], ["interaction", "maybe"], labels=BINARY)


def test_item_fn_and_registry_entry():
    assert label_match("interaction", "interaction") == 1.0
    assert label_match("No Interaction", "no interaction") == 1.0
    assert label_match(None, "interaction") == 0.0
    assert label_match("interaction", "no interaction") == 0.0
    metric = METRICS["classification"]
    assert metric.kind == "label" and metric.item_fn is label_match
    assert metric.outputs == {"accuracy": True, "precision": True, "recall": True, "f1": True, "mcc": True,
                              "unparseable": False}
    assert set(metric.options) == {"labels", "positive"}
