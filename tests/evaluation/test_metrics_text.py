"""Text metrics equal their reference libraries (sacrebleu, rouge-score) and hand-computed SQuAD values."""
from __future__ import annotations

import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer

from evaluation.metrics import MetricError
from evaluation.metrics.combined import questeval_f1_hmean
from evaluation.metrics.keywords import keyword_recall, keyword_recall_score
from evaluation.metrics.text import (bleu, exact_match, exact_match_score, rouge, rouge_l_score, sentence_bleu,
                                     sentence_bleu_score, token_f1, token_f1_score)

PREDICTIONS = [
    "Warfarin inhibits vitamin K epoxide reductase. Fluconazole raises its levels by inhibiting CYP2C9.",
    "Metformin lowers hepatic glucose production.\nIt is first-line therapy for type 2 diabetes.",
    "",
    "Atorvastatin may cause myopathy; rhabdomyolysis is rare.\nCheck CK if muscle pain occurs.",
    "Aspirin irreversibly inhibits COX-1, reducing thromboxane A2.",
]
REFERENCES = [
    "Warfarin blocks vitamin K epoxide reductase. Fluconazole inhibits CYP2C9 and increases warfarin exposure.",
    "Metformin is first-line for type 2 diabetes.\nIt reduces hepatic gluconeogenesis.",
    "Grapefruit juice inhibits CYP3A4 and raises simvastatin levels.",
    "Statins can cause myopathy and, rarely, rhabdomyolysis.\nMeasure creatine kinase when muscle symptoms appear.",
    "Aspirin irreversibly acetylates cyclooxygenase-1, lowering thromboxane A2 synthesis.",
]


def test_bleu_equals_sacrebleu_corpus_bleu():
    expected = sacrebleu.corpus_bleu(PREDICTIONS, [REFERENCES]).score
    assert bleu(PREDICTIONS, REFERENCES) == {"bleu": pytest.approx(expected)}
    assert 0 < expected < 100


def test_sentence_bleu_is_the_mean_of_sacrebleu_sentence_bleu():
    per_item = [sacrebleu.sentence_bleu(p, [r]).score for p, r in zip(PREDICTIONS, REFERENCES)]
    assert sentence_bleu(PREDICTIONS, REFERENCES)["sentence_bleu"] == pytest.approx(sum(per_item) / len(per_item))
    assert [sentence_bleu_score(p, r) for p, r in zip(PREDICTIONS, REFERENCES)] == pytest.approx(per_item)
    assert per_item[2] == 0.0  # the empty answer
    assert sentence_bleu(["same text here"], ["same text here"])["sentence_bleu"] == pytest.approx(100.0)


def test_rouge_equals_rouge_score_with_stemming_and_newline_sentences():
    scorer = RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    items = [scorer.score(r, p) for p, r in zip(PREDICTIONS, REFERENCES)]
    result = rouge(PREDICTIONS, REFERENCES)
    assert set(result) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    for name in result:
        assert result[name] == pytest.approx(sum(item[name].fmeasure for item in items) / len(items))
    assert [rouge_l_score(p, r) for p, r in zip(PREDICTIONS, REFERENCES)] == pytest.approx(
        [item["rougeL"].fmeasure for item in items])
    assert items[2]["rouge1"].fmeasure == 0.0  # the empty answer
    # The newline-split items make rougeLsum differ from rougeL, as rouge-score defines it.
    assert result["rougeLsum"] != pytest.approx(result["rougeL"])


@pytest.mark.parametrize("prediction,reference,em,f1", [
    ("The Warfarin.", "warfarin", 1.0, 1.0),                      # article, punctuation, case
    ("Warfarin, a blood thinner!", "warfarin blood thinner", 1.0, 1.0),
    ("inhibits the CYP2C9 enzyme", "CYP2C9", 0.0, 0.5),           # P 1/3, R 1
    ("aspirin aspirin", "aspirin", 0.0, 2 / 3),                   # a repeated token counts once
    ("warfarin inhibits vitamin K", "warfarin blocks vitamin K epoxide reductase", 0.0, 0.6),  # P 3/4, R 1/2
    ("ibuprofen", "aspirin", 0.0, 0.0),
    ("", "aspirin", 0.0, 0.0),
    ("", "", 1.0, 1.0),
    ("The", "a", 1.0, 1.0),                                       # both normalize to nothing
])
def test_exact_match_and_token_f1_follow_squad(prediction, reference, em, f1):
    assert exact_match_score(prediction, reference) == em
    assert token_f1_score(prediction, reference) == pytest.approx(f1)


def test_exact_match_and_token_f1_average_items():
    predictions, references = ["The Warfarin.", "inhibits the CYP2C9 enzyme"], ["warfarin", "CYP2C9"]
    assert exact_match(predictions, references) == {"exact_match": 0.5}
    assert token_f1(predictions, references) == {"token_f1": pytest.approx(0.75)}


@pytest.mark.parametrize("answer,terms,expected", [
    ("Common effects are headaches and rashes.", ["headache", "rash"], 1.0),          # plural in the answer
    ("It can cause a headache.", ["Headaches"], 1.0),                                # plural in the term
    ("Hair loss was reported.", ["hair losses"], 1.0),
    ("Watch for QT PROLONGATION and Hepatotoxicity.", ["qt prolongation", "hepatotoxicity"], 1.0),  # case
    ("Risk of QT-prolongation.", ["QT prolongation"], 1.0),                         # hyphen in the answer
    ("Risk of QT prolongation.", ["QT-prolongation"], 1.0),                         # hyphen in the term
    ("A non-steroidal drug.", ["nonsteroidal"], 1.0),
    ("Stevens\u2013Johnson syndrome was reported.", ["Stevens-Johnson syndrome"], 1.0),  # en dash
    ("Peripheral neuropathy is possible.", ["neuropathies"], 1.0),
    ("Nausea and dizziness.", ["nausea", "rash", "hepatotoxicity", "bleeding"], 0.25),
    ("Well tolerated.", ["nausea", "rash"], 0.0),                                    # none found
    ("Rashness is not a rash word match.", ["rashn"], 0.0),                         # whole words only
    ("Hyperkalemia was seen.", ["kalemia"], 0.0),
])
def test_keyword_recall_per_item(answer, terms, expected):
    assert keyword_recall_score(answer, "", terms) == pytest.approx(expected)


def test_keyword_recall_skips_items_without_keywords():
    answers = ["Bleeding risk.", "Nothing listed.", "Nausea.", "Also nothing."]
    result = keyword_recall(answers, [""] * 4, [["bleeding", "bruising"], [], ["rash"], None])
    assert result == {"keyword_recall": pytest.approx(0.25)}  # mean of 0.5 and 0.0
    assert keyword_recall_score("Nothing listed.", "", []) is None
    assert keyword_recall(["Rash."], [""], ["rash"]) == {"keyword_recall": 1.0}  # a bare string is one term
    with pytest.raises(MetricError, match="no item lists any keywords"):
        keyword_recall(["a", "b"], ["", ""], [[], [" "]])


def test_questeval_f1_hmean_is_the_harmonic_mean():
    assert questeval_f1_hmean([], [], scores={"questeval": 0.5, "token_f1": 0.5}) == {
        "questeval_f1_hmean": pytest.approx(0.5)}
    assert questeval_f1_hmean([], [], scores={"questeval": 0.8, "token_f1": 0.2})["questeval_f1_hmean"] == \
        pytest.approx(0.32)
    assert questeval_f1_hmean([], [], scores={"questeval": 0.0, "token_f1": 0.7}) == {"questeval_f1_hmean": 0.0}
    assert questeval_f1_hmean([], [], scores={"questeval": None, "token_f1": 0.7}) == {"questeval_f1_hmean": None}
    with pytest.raises(MetricError, match="needs the scores of questeval"):
        questeval_f1_hmean([], [], scores={"token_f1": 0.7})
