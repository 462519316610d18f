"""Leakage-aware splits (data.splits.split_by): cold-drug leaves no drug on two sides, cold-pair no pair in either
order, scaffold no Bemis–Murcko scaffold; seeded; sizes close to the fractions; clear sentences for sets without
the fields a kind needs."""
from __future__ import annotations

import random
from collections import Counter

import pytest

import settings
from data import catalog
from data.records import DataError, Record
from data.splits import KINDS, pair_of, scaffold_of, split_by

THREE = {"train": 0.72, "validation": 0.08, "test": 0.2}
TWO = {"train": 0.8, "test": 0.2}


def pairs_set(n_drugs: int = 300, n_pairs: int = 600, seed: int = 0) -> list[Record]:
    """A generated DDI-like set: random pairs of n_drugs drugs, some repeated in the same or the swapped order,
    names written with varying case (the same drug), two labels."""
    rng = random.Random(seed)
    records = []
    for number in range(n_pairs):
        a, b = rng.sample(range(n_drugs), 2)
        if records and rng.random() < 0.1:  # repeat an earlier pair, maybe swapped
            a, b = (int(x[4:]) for x in (records[rng.randrange(len(records))].meta[k] for k in ("drug1", "drug2")))
            a, b = (b, a) if rng.random() < 0.5 else (a, b)
        name = (lambda i: f"drug{i}") if number % 2 else (lambda i: f"DRUG{i}")
        records.append(Record.chat(f"pair {number}", "yes", id=f"p{number}", drug1=name(a), drug2=name(b),
                                   label=rng.choice(["interaction", "no interaction"])))
    return records


def drugs_of(part: list[Record]) -> set[str]:
    return {d for r in part for d in pair_of(r)}


def assert_cold_drug(result, records):
    parts = list(result.parts.values())
    for i, first in enumerate(parts):
        for second in parts[i + 1:]:
            assert not drugs_of(first) & drugs_of(second)
    assert Counter(id(r) for p in parts + [result.dropped] for r in p) == Counter(id(r) for r in records)


def assert_cold_pair(result, records):
    seen = {}
    for name, part in result.parts.items():
        for record in part:
            key = frozenset(pair_of(record))
            assert seen.setdefault(key, name) == name, f"{sorted(key)} in {seen[key]} and {name}"
    assert not result.dropped and sum(result.sizes().values()) == len(records)


def close_to(sizes: dict[str, int], fractions: dict[str, float], tolerance: float):
    total = sum(sizes.values())
    for name, fraction in fractions.items():
        assert abs(sizes[name] / total - fraction) <= tolerance, (sizes, fractions)


def shared_ddi() -> list[Record]:
    if not (settings.shared_data_dir() / "ddi").is_dir():
        pytest.skip(f"the shared data sets are not on this machine ({settings.shared_data_dir()} is absent)")
    return catalog.load("shared:ddi", "train") + catalog.load("shared:ddi", "validation")


def bundled_ddi() -> list[Record]:
    return [r for s in catalog.splits("bundled:ddi-binary") for r in catalog.load("bundled:ddi-binary", s)]


# --- cold-drug ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fractions", [THREE, TWO])
def test_cold_drug_leaves_no_drug_on_two_sides_of_a_generated_set(fractions):
    records = pairs_set()
    result = split_by(records, "cold-drug", fractions, seed=3)
    assert result.kind == "cold-drug" and list(result.parts) == list(fractions)
    assert_cold_drug(result, records)
    close_to(result.sizes(), fractions, 0.015)  # the kept pairs' sizes: within about 1 % of the fractions
    assert "dropped: their two drugs fell in different parts" in result.summary()
    assert f"{len(result.dropped):,} of {len(records):,} pairs dropped" in result.summary()
    assert "Drugs per part: train " in result.summary()


def test_cold_drug_ignores_case_and_spacing_in_drug_names():
    records = [Record.chat("a", "b", drug1="Warfarin", drug2="Aspirin"),
               Record.chat("c", "d", drug1=" warfarin ", drug2="ibuprofen"),
               Record.chat("e", "f", drug1="ASPIRIN", drug2="Ibuprofen")] + pairs_set(50, 100)
    result = split_by(records, "cold-drug", TWO, seed=0)
    assert_cold_drug(result, records)
    placed = [name for name, part in result.parts.items() for r in part if r in records[:3]]
    assert len(set(placed)) <= 1  # the three share their drugs: together, or dropped


def test_cold_drug_of_a_sparse_set_drops_few_pairs_and_is_seeded():
    records = pairs_set(n_drugs=2000, n_pairs=600)
    first = split_by(records, "cold-drug", THREE, seed=1)
    assert_cold_drug(first, records)
    assert len(first.dropped) <= 0.05 * len(records)
    again = split_by(pairs_set(n_drugs=2000, n_pairs=600), "cold-drug", THREE, seed=1)
    assert {n: [r.meta["id"] for r in p] for n, p in first.parts.items()} == \
        {n: [r.meta["id"] for r in p] for n, p in again.parts.items()}
    other = split_by(records, "cold-drug", THREE, seed=2)
    assert {r.meta["id"] for r in other.parts["test"]} != {r.meta["id"] for r in first.parts["test"]}


def test_cold_drug_on_the_bundled_ddi_set():
    records = bundled_ddi()
    result = split_by(records, "cold-drug", TWO, seed=0, source="bundled:ddi-binary")
    assert_cold_drug(result, records)
    close_to(result.sizes(), TWO, 0.02)
    assert result.parts["test"]  # one dense component of 120-odd drugs: cut, with drops, but both sides filled


def test_cold_drug_on_shared_ddi():
    records = shared_ddi()
    result = split_by(records, "cold-drug", THREE, seed=0)
    assert_cold_drug(result, records)
    close_to(result.sizes(), THREE, 0.015)
    assert len(result.dropped) < 0.15 * len(records)


# --- cold-pair ---------------------------------------------------------------------------------------------------

def test_cold_pair_keeps_each_pair_in_either_order_on_one_side():
    records = pairs_set()
    keys = Counter(frozenset(pair_of(r)) for r in records)
    assert any(c > 1 for c in keys.values())  # the set does repeat pairs, swapped too
    result = split_by(records, "cold-pair", THREE, seed=4)
    assert_cold_pair(result, records)
    close_to(result.sizes(), THREE, 0.01)
    assert f"{len(keys):,} distinct pairs (order ignored)" in result.summary()


def test_cold_pair_is_stratified_by_label_when_every_record_has_one():
    records = pairs_set(400, 500)
    result = split_by(records, "cold-pair", TWO, seed=0)
    share = {n: Counter(r.meta["label"] for r in p)["interaction"] / len(p) for n, p in result.parts.items()}
    assert abs(share["train"] - share["test"]) < 0.03


def test_cold_pair_on_the_bundled_and_shared_ddi_sets():
    records = bundled_ddi()
    assert_cold_pair(split_by(records, "cold-pair", TWO, seed=0), records)
    records = shared_ddi()
    result = split_by(records, "cold-pair", THREE, seed=0)
    assert_cold_pair(result, records)
    assert result.sizes() == {"train": 864, "validation": 96, "test": 240}


# --- scaffold ----------------------------------------------------------------------------------------------------

MOLECULES = ["c1ccccc1O", "c1ccccc1N", "c1ccccc1CC", "Cc1ccccc1", "C1CCCCC1O", "C1CCCCC1N", "c1ccncc1C",
             "c1ccncc1O", "CCO", "CCN", "CCCC", "O=C(O)c1ccc2ccccc2c1", "Oc1ccc2ccccc2c1", "C1CCNCC1C",
             "C1CCNCC1O", "c1ccc(cc1)-c1ccccc1", "Nc1ccc(cc1)-c1ccccc1", "C1CC1C(=O)O", "C1CC1N", "c1ccoc1C"]


def molecules(smiles: list[str]) -> list[Record]:
    return [Record.chat(s, "1.0", id=f"m{i}", smiles=s, label=float(i)) for i, s in enumerate(smiles)]


def assert_scaffold_split(result):
    owner = {}
    for name, part in result.parts.items():
        for record in part:
            scaffold = scaffold_of(record.meta["smiles"])
            assert owner.setdefault(scaffold, name) == name, f"scaffold {scaffold!r} in {owner[scaffold]} and {name}"
    return owner


def test_scaffold_split_puts_every_scaffold_on_one_side_only():
    records = molecules(MOLECULES * 3)
    result = split_by(records, "scaffold", TWO, seed=0)
    owner = assert_scaffold_split(result)
    assert "c1ccccc1" in owner and "" in owner  # benzene and the acyclic group each on one side
    assert sum(result.sizes().values()) == len(records) and not result.dropped
    close_to(result.sizes(), TWO, 0.1)
    assert f"{len(owner)} scaffolds (9 acyclic molecules share the empty scaffold)." in result.summary()


def test_scaffold_split_of_the_bundled_freesolv_set_is_close_to_the_fractions():
    records = catalog.load("bundled:freesolv", "train")
    result = split_by(records, "scaffold", THREE, seed=0)
    assert_scaffold_split(result)
    close_to(result.sizes(), THREE, 0.02)


def test_unreadable_smiles_are_dropped_and_named():
    records = molecules(MOLECULES + ["not a molecule", "C1CC"])
    result = split_by(records, "scaffold", TWO, seed=0)
    assert [r.meta["smiles"] for r in result.dropped] == ["not a molecule", "C1CC"]
    assert "2 record(s) dropped: RDKit cannot read their smiles (record 21 (id m20) 'not a molecule'" in result.summary()


# --- sentences for sets without the fields ----------------------------------------------------------------------

def test_a_set_without_drug_fields_gets_a_sentence_naming_the_fields_and_the_file():
    plain = [Record.chat(f"q{i}", "a") for i in range(5)]
    for kind in ("cold-drug", "cold-pair"):
        with pytest.raises(DataError, match=rf"^notes.jsonl has no drug1/drug2 fields: a {kind} split needs the two "
                                            "drugs of each pair in fields named drug1 and drug2"):
            split_by(plain, kind, source="notes.jsonl")


def test_a_record_missing_drug2_is_named():
    records = pairs_set(20, 10)
    del records[6].meta["drug2"]
    with pytest.raises(DataError, match=r"^pairs.csv, record 7 \(id p6\): no 'drug2' field: a cold-drug split needs "
                                        r"drug1 and drug2 on every record \(1 of 10 lack one\)\.$"):
        split_by(records, "cold-drug", source="pairs.csv")


def test_scaffold_split_of_pairs_or_of_a_set_without_smiles_says_what_to_do():
    with pytest.raises(DataError, match=r"holds drug pairs \(smiles1/smiles2\), not single molecules: .* "
                                        "split pairs with cold-drug or cold-pair"):
        split_by(bundled_ddi(), "scaffold", source="bundled:ddi-binary")
    with pytest.raises(DataError, match="^qa.jsonl has no 'smiles' field: a scaffold split needs"):
        split_by([Record.chat("q", "a")], "scaffold", source="qa.jsonl")


def test_unknown_kind_and_bad_fractions():
    assert list(KINDS) == ["random", "cold-drug", "cold-pair", "scaffold"]
    with pytest.raises(DataError, match="Unknown split kind 'cold_drug'. Did you mean 'cold-drug'?"):
        split_by(pairs_set(10, 5), "cold_drug")
    with pytest.raises(DataError, match="sum to 1"):
        split_by(pairs_set(10, 5), "cold-pair", {"train": 0.9, "test": 0.3})


def test_random_through_split_by_is_the_plain_split():
    from data.splits import split

    records = pairs_set(50, 100)
    result = split_by(records, "random", TWO, seed=5)
    assert result.parts == split(records, TWO, seed=5) and not result.dropped and not result.notes
