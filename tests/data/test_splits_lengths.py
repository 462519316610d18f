"""Deterministic, stratified splits and token-length analysis (with a real tokenizer and chat template)."""
from __future__ import annotations

from collections import Counter

import pytest

from data.lengths import ROUND_TO, SAMPLE_FOR_SUGGESTION, analyze, histogram, suggest_max_length
from models.tokenizers import token_counter
from data.records import DataError, Record
from data.splits import STUDY_FRACTIONS, parse_fractions, split


def make(n: int, **meta_of) -> list[Record]:
    """n records with ids 0..n-1; meta_of maps a meta key to a function of the index."""
    return [Record.chat(f"question {i}", f"answer {i}", id=i, **{k: f(i) for k, f in meta_of.items()})
            for i in range(n)]


def ids(records: list[Record]) -> list[int]:
    return [r.meta["id"] for r in records]


# --- splits ----------------------------------------------------------------------------------------------------------

def test_the_study_default_fractions():
    assert STUDY_FRACTIONS == {"train": 0.72, "validation": 0.08, "test": 0.20}
    parts = split(make(100))
    assert {name: len(part) for name, part in parts.items()} == {"train": 72, "validation": 8, "test": 20}


def test_a_split_is_deterministic_for_a_seed_and_differs_for_another():
    records = make(200)
    first = split(records, seed=7)
    again = split(make(200), seed=7)
    assert {k: ids(v) for k, v in first.items()} == {k: ids(v) for k, v in again.items()}
    other = split(records, seed=8)
    assert ids(other["test"]) != ids(first["test"])
    assert set(ids(other["test"])) != set(ids(first["test"]))


@pytest.mark.parametrize("n, fractions", [
    (37, {"train": 0.8, "validation": 0.1, "test": 0.1}),
    (10, {"train": 0.72, "validation": 0.08, "test": 0.2}),
    (3, {"train": 0.5, "test": 0.5}),
    (101, {"train": 1.0}),
])
def test_fractions_are_respected_and_every_record_lands_in_exactly_one_part(n, fractions):
    parts = split(make(n), fractions, seed=3)
    assert list(parts) == list(fractions)
    assert sum(len(p) for p in parts.values()) == n
    assert sorted(i for p in parts.values() for i in ids(p)) == list(range(n))
    for name, fraction in fractions.items():
        assert abs(len(parts[name]) - fraction * n) <= 1


def test_stratified_by_label_keeps_the_class_ratio_in_each_split():
    records = make(100, label=lambda i: "yes" if i % 5 < 3 else "no")  # 60 yes, 40 no
    parts = split(records, seed=1)  # every record has a string label: stratified by default
    counts = {name: Counter(r.meta["label"] for r in part) for name, part in parts.items()}
    assert counts == {"train": Counter(yes=43, no=29), "validation": Counter(yes=5, no=3),
                      "test": Counter(yes=12, no=8)}
    assert split(records, seed=1, stratify=True).keys() == parts.keys()
    assert {k: ids(v) for k, v in split(records, seed=1, stratify=True).items()} == \
        {k: ids(v) for k, v in parts.items()}
    # the classes are shuffled together, not left in blocks
    labels = [r.meta["label"] for r in parts["train"]]
    assert labels != sorted(labels) and labels != sorted(labels, reverse=True)


def test_a_rare_class_still_reaches_the_test_split_when_stratified():
    records = make(100, label=lambda i: "rare" if i < 5 else "common")
    for seed in range(5):
        assert sum(r.meta["label"] == "rare" for r in split(records, seed=seed)["test"]) == 1


def test_stratify_by_a_meta_key():
    categories = ["mechanism", "indication", "smiles", "interaction"]
    records = make(80, category=lambda i: categories[i % 4], label=lambda i: "x")
    parts = split(records, {"train": 0.75, "test": 0.25}, seed=5, stratify="category")
    for name, expected in (("train", 15), ("test", 5)):
        assert Counter(r.meta["category"] for r in parts[name]) == {c: expected for c in categories}


def test_no_stratification_when_a_label_is_missing_or_not_a_string():
    mixed = make(50, label=lambda i: "yes" if i < 45 else None)  # label=None is dropped from meta
    numeric = make(50, label=lambda i: float(i))
    for records in (mixed, numeric):
        assert split(records, seed=2, stratify=None) == split(records, seed=2, stratify=False)


@pytest.mark.parametrize("fractions", [
    {"train": 0.8, "test": 0.3},
    {"train": 0.5, "validation": 0.2, "test": 0.2},
    {"train": 1.2, "test": -0.2},
])
def test_bad_fractions_are_a_data_error(fractions):
    with pytest.raises(DataError, match="sum to 1"):
        split(make(10), fractions)


def test_nothing_to_split():
    with pytest.raises(DataError, match="no valid records"):
        split([])


@pytest.mark.parametrize("text, expected", [
    ("0.8,0.1,0.1", {"train": 0.8, "validation": 0.1, "test": 0.1}),
    ("0.72, 0.08, 0.2", {"train": 0.72, "validation": 0.08, "test": 0.2}),
    ("0.8,0.2", {"train": 0.8, "test": 0.2}),
    ("train=0.8,test=0.2", {"train": 0.8, "test": 0.2}),
    (" train = 0.7 , validation = 0.1 , test = 0.2 ", {"train": 0.7, "validation": 0.1, "test": 0.2}),
    ("dev=0.5,holdout=0.5", {"dev": 0.5, "holdout": 0.5}),
])
def test_parse_fractions_forms(text, expected):
    assert parse_fractions(text) == expected


@pytest.mark.parametrize("text", ["a,b", "train=x,test=0.2", "0.25,0.25,0.25,0.25"])
def test_parse_fractions_errors(text):
    with pytest.raises(DataError, match=r"0\.8,0\.1,0\.1"):
        parse_fractions(text)


# --- lengths ---------------------------------------------------------------------------------------------------------

def test_analyze_percentiles_max_and_histogram():
    lengths = list(range(100, 0, -1))  # 1..100, unsorted
    stats = analyze(lengths)
    assert {k: stats[k] for k in ("count", "mean", "min", "p50", "p95", "p99", "max")} == \
        {"count": 100, "mean": 50.5, "min": 1, "p50": 50, "p95": 95, "p99": 99, "max": 100}
    assert stats["suggested_max_length"] == 128
    rows = stats["histogram"]
    assert sum(c for _, _, c in rows) == 100
    assert len(rows) == 20 and rows[0] == (1, 5, 5) and rows[-1] == (96, 100, 5)
    assert all(rows[i][1] + 1 == rows[i + 1][0] for i in range(len(rows) - 1))


def test_histogram_counts_sum_to_n_for_skewed_data():
    lengths = [10] * 50 + [11, 12, 300, 999]
    for bins in (1, 7, 20, 100):
        rows = histogram(lengths, bins)
        assert sum(c for _, _, c in rows) == len(lengths)
        assert len(rows) <= bins
        assert rows[0][0] == 10 and rows[-1][0] <= 999 <= rows[-1][1]
    assert histogram([7, 7, 7]) == [(7, 7, 3)]


def test_analyze_of_nothing():
    assert analyze([]) == {"count": 0}


@pytest.mark.parametrize("longest, expected", [(100, 128), (1, 64), (64, 64), (65, 128), (128, 128), (129, 192),
                                               (1000, 1024)])
def test_suggest_max_length_rounds_the_longest_up_to_a_multiple_of_64(longest, expected):
    assert ROUND_TO == 64
    assert suggest_max_length([3, longest, 2]) == expected


def test_the_suggestion_comes_from_the_first_1000_examples():
    assert SAMPLE_FOR_SUGGESTION == 1000
    stats = analyze([100] * 1000 + [5000])
    assert stats["suggested_max_length"] == 128
    assert stats["max"] == 5000 and stats["p99"] == 100


def test_token_counter_counts_the_chat_templated_length(tiny_llama):
    from transformers import AutoTokenizer

    records = [
        Record.chat("Does warfarin interact with fluconazole?", "Yes: fluconazole inhibits CYP2C9.",
                    system="You are a pharmacologist."),
        Record.chat("SMILES of aspirin?", "CC(=O)OC1=CC=CC=C1C(=O)O"),
        Record([{"role": "user", "content": "Metformin?"}, {"role": "assistant", "content": "Biguanide."},
                {"role": "user", "content": "Statin myopathy?"}, {"role": "assistant", "content": "Rare."}]),
        Record.chat("Hi", None),
    ]
    counts = token_counter(f"hf:{tiny_llama}")(records)

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama))
    expected = []
    for record in records:
        encoded = tokenizer.apply_chat_template(record.messages, tokenize=True)
        ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
        expected.append(len(ids))
    assert counts == expected
    assert len(set(counts)) == len(counts)
    # the template's markers are counted, not just the words
    plain = [len(tokenizer(" ".join(m["content"] for m in r.messages), add_special_tokens=False)["input_ids"])
             for r in records]
    assert all(c > p for c, p in zip(counts, plain))


def test_token_counter_rejects_a_model_without_a_local_tokenizer():
    from models.errors import ModelError

    with pytest.raises(ModelError, match="local tokenizer"):
        token_counter("dummy:echo")
