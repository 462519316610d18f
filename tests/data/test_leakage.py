"""The leakage report (data.leakage): exact counts on a hand-made pair of sets, Tanimoto values equal to a direct
RDKit computation, files without chat columns, the CLI, and the cold splits' reports on the bundled and shared sets."""
from __future__ import annotations

import json

import pytest

import settings
from data.__main__ import main
from data.leakage import BITS, RADIUS, compare, fields_of_records, report_of, report_of_split
from data.records import DataError, Record
from data.splits import split_by

ASPIRIN, SALICYLIC = "CC(=O)OC1=CC=CC=C1C(=O)O", "OC(=O)c1ccccc1O"
WARFARIN = "CC(=O)CC(c1ccccc1)c1c(O)c2ccccc2oc1=O"
FLUCONAZOLE = "OC(Cn1cncn1)(Cn1cncn1)c1ccc(F)cc1F"
IBUPROFEN, CAFFEINE = "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"
METFORMIN, ETHANOL = "CN(C)C(=N)NC(=N)N", "CCO"

TRAIN = [
    {"drug1": "Warfarin", "drug2": "Fluconazole", "smiles1": WARFARIN, "smiles2": FLUCONAZOLE},
    {"drug1": "Aspirin", "drug2": "Ibuprofen", "smiles1": ASPIRIN, "smiles2": IBUPROFEN},
    {"drug1": "Caffeine", "drug2": "Ethanol", "smiles1": CAFFEINE, "smiles2": ETHANOL},
]
TEST = [
    {"drug1": "warfarin", "drug2": "fluconazole", "smiles1": WARFARIN, "smiles2": FLUCONAZOLE},  # exact (any case)
    {"drug1": "Ibuprofen", "drug2": "Aspirin", "smiles1": IBUPROFEN, "smiles2": ASPIRIN},  # order-swapped
    {"drug1": "Aspirin", "drug2": "Metformin", "smiles1": "O=C(C)Oc1ccccc1C(O)=O", "smiles2": METFORMIN},  # one drug
    {"drug1": "Salicylic acid", "drug2": "Metformin", "smiles1": SALICYLIC, "smiles2": METFORMIN},  # none
]


def direct_nearest(smiles: str, train: list[str]) -> float:
    """The nearest-neighbour similarity computed straight with RDKit's classic API."""
    from rdkit import Chem, DataStructs
    from rdkit.Chem import AllChem

    def fp(s):
        return AllChem.GetMorganFingerprintAsBitVect(Chem.MolFromSmiles(s), RADIUS, nBits=BITS)

    return max(DataStructs.TanimotoSimilarity(fp(smiles), fp(t)) for t in train)


def test_counts_are_exact_on_a_hand_made_pair_of_sets():
    report = compare(TRAIN, TEST, train_name="mine-train", test_name="mine-test")
    assert (report.train_rows, report.test_rows, report.train_pairs, report.test_pairs) == (3, 4, 3, 4)
    assert (report.exact_pairs, report.swapped_pairs, report.overlapping_pairs) == (1, 1, 2)
    # test drugs: warfarin, fluconazole, ibuprofen, aspirin, metformin, salicylic acid; the first four in train
    assert (report.test_drugs, report.shared_drugs) == (6, 4)
    assert report.shared_drug_names == ["Aspirin", "Fluconazole", "Ibuprofen", "Warfarin"]
    assert (report.pairs_with_a_shared_drug, report.pairs_with_both_shared) == (3, 2)
    # molecules, distinct by canonical SMILES: aspirin (written two ways), ibuprofen, warfarin, fluconazole,
    # metformin, salicylic acid
    assert (report.train_molecules, report.test_molecules, report.same_molecules) == (6, 6, 4)
    by_smiles = {n.smiles: n for n in report.neighbours}
    assert len(by_smiles) == 6
    assert by_smiles[WARFARIN].similarity == 1.0 and by_smiles[WARFARIN].nearest == WARFARIN
    assert by_smiles[ASPIRIN].similarity == 1.0  # identical to a train molecule → 1.0
    assert by_smiles[SALICYLIC].nearest == ASPIRIN and 0 < by_smiles[SALICYLIC].similarity < 1
    assert [b.count for b in report.histogram][-1] == 4 and sum(b.count for b in report.histogram) == 6
    assert [b.label for b in report.histogram] == [f"{i / 10:.1f}–{(i + 1) / 10:.1f}" for i in range(10)]
    assert report.similarities == sorted(report.similarities, reverse=True)
    text = report.markdown(neighbours=3)
    assert "### Leakage: mine-train (train) → mine-test (test)" in text
    assert "1 test pairs are also train pairs in the same order, 1 only in the swapped order (2 in either order)" in text
    assert "**not cold-pair**" in text and "**not cold-drug**" in text
    assert "**Drugs**: 4 of 6 test drugs (67 %) also appear in train pairs; 3 test pairs have at least one of them, " \
           "2 both." in text
    assert "4 test molecules are train molecules (67 %)" in text and "| 0.9–1.0 | 4 |" in text
    assert json.loads(json.dumps(report.to_dict()))["overlapping_pairs"] == 2


def test_tanimoto_values_equal_a_direct_rdkit_computation():
    report = compare(TRAIN, TEST)
    train = [WARFARIN, FLUCONAZOLE, ASPIRIN, IBUPROFEN, CAFFEINE, ETHANOL]
    assert report.neighbours
    for neighbour in report.neighbours:
        assert neighbour.similarity == pytest.approx(direct_nearest(neighbour.smiles, train), abs=1e-12)
    bins = [0] * 10
    for neighbour in report.neighbours:
        bins[min(9, int(round(neighbour.similarity * 10, 9)))] += 1
    assert [b.count for b in report.histogram] == bins


def test_a_cold_split_reports_no_overlap():
    report = compare(TRAIN, [{"drug1": "Metformin", "drug2": "Salicylic acid", "smiles1": METFORMIN,
                              "smiles2": SALICYLIC}])
    assert (report.overlapping_pairs, report.shared_drugs, report.same_molecules) == (0, 0, 0)
    assert "cold-pair, cold-drug" in report.markdown()


def test_molecule_sets_and_one_sided_fields():
    train = [{"smiles": s} for s in (ASPIRIN, CAFFEINE)]
    report = compare(train, [{"smiles": SALICYLIC}, {"smiles": "C1CC"}])  # the second cannot be read
    assert not report.has_pairs and report.has_molecules and report.test_molecules == 1
    assert report.unreadable_smiles == 1 and "RDKit cannot read 0 train and 1 test SMILES" in report.markdown()
    report = compare(TRAIN, [{"smiles": SALICYLIC}], test_name="mols.csv")
    assert not report.has_pairs and "Pair overlap not computed: mols.csv has no drug1/drug2 fields." in report.notes
    with pytest.raises(DataError, match="^qa.jsonl has no drug1/drug2 or smiles fields: a leakage report compares"):
        compare(TRAIN, [{"question": "q", "answer": "a"}], test_name="qa.jsonl")


def test_plain_files_of_pairs_are_read_without_chat_columns(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in TRAIN), encoding="utf-8")
    test = tmp_path / "test.csv"
    test.write_text("drug1,drug2,smiles1,smiles2,label\n" + "".join(
        f"{r['drug1']},{r['drug2']},{r['smiles1']},{r['smiles2']},interaction\n" for r in TEST), encoding="utf-8")
    report = report_of(train, test)
    assert (report.train, report.test) == ("train.jsonl", "test.csv")
    assert (report.exact_pairs, report.swapped_pairs, report.shared_drugs) == (1, 1, 4)


def test_a_records_set_reads_its_meta_and_a_split_reports_its_parts():
    records = [Record.chat(f"q{i}", "a", **row) for i, row in enumerate(TRAIN + TEST)]
    assert fields_of_records(records)[0]["drug1"] == "Warfarin"
    parts = split_by(records, "cold-pair", {"train": 0.5, "test": 0.5}, seed=0).parts
    report = report_of_split(parts, "test", name="mine")
    assert report.overlapping_pairs == 0 and (report.train, report.test) == ("mine train", "mine test")
    with pytest.raises(DataError, match="a leakage report needs 'train' and 'validation'"):
        report_of_split(parts, "validation")


def test_the_bundled_ddi_set_and_its_cold_splits():
    report = report_of("bundled:ddi-binary")  # train against its test split
    assert (report.train, report.test) == ("bundled:ddi-binary train", "bundled:ddi-binary test")
    assert report.overlapping_pairs == 0 and report.shared_drugs > 0  # the bundled split is random: drugs recur
    from data import catalog

    records = [r for s in ("train", "validation", "test") for r in catalog.load("bundled:ddi-binary", s)]
    cold = report_of_split(split_by(records, "cold-drug", {"train": 0.8, "test": 0.2}, seed=0).parts)
    assert (cold.shared_drugs, cold.pairs_with_a_shared_drug, cold.overlapping_pairs, cold.same_molecules) == (0, 0, 0, 0)
    pair = report_of_split(split_by(records, "cold-pair", {"train": 0.8, "test": 0.2}, seed=0).parts)
    assert pair.overlapping_pairs == 0


def test_cli_prints_the_report_for_two_files_and_for_a_split(tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    test = tmp_path / "test.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in TRAIN), encoding="utf-8")
    test.write_text("".join(json.dumps(r) + "\n" for r in TEST), encoding="utf-8")
    assert main(["leakage", str(train), str(test)]) == 0
    out = capsys.readouterr().out
    assert "### Leakage: train.jsonl (train) → test.jsonl (test)" in out and "(2 in either order)" in out
    assert main(["leakage", str(train), str(test), "--json", "--neighbours", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["exact_pairs"], data["swapped_pairs"], len(data["neighbours"])) == (1, 1, 2)
    assert main(["leakage", "bundled:ddi-binary", "--by", "cold-drug", "--fractions", "0.8,0.2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cold-drug split (seed 0): train ") and "pairs dropped" in out
    assert "cold-pair, cold-drug" in out and "0 of " in out
    assert main(["leakage", "bundled:ddi-binary", str(test), "--by", "cold-drug"]) == 1
    assert "--by splits one set" in capsys.readouterr().err
    assert main(["leakage", "bundled:drug-qa", "--by", "cold-pair"]) == 1
    assert "bundled:drug-qa train has no drug1/drug2 fields" in capsys.readouterr().err


def test_cli_split_by_cold_drug_writes_parts_without_shared_drugs(tmp_path, capsys):
    out = tmp_path / "parts"
    assert main(["split", "bundled:ddi-binary", "--by", "cold-drug", "--fractions", "0.8,0.2", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pairs dropped: their two drugs fell in different parts" in printed
    assert main(["leakage", str(out / "train.jsonl"), str(out / "test.jsonl"), "--neighbours", "0"]) == 0
    assert "**Drugs**: 0 of " in capsys.readouterr().out


def test_shared_ddi_train_against_validation():
    if not (settings.shared_data_dir() / "ddi").is_dir():
        pytest.skip(f"the shared data sets are not on this machine ({settings.shared_data_dir()} is absent)")
    report = report_of("shared:ddi")
    assert (report.train, report.test) == ("shared:ddi train", "shared:ddi validation")
    assert (report.train_pairs, report.test_pairs) == (1000, 200)
    assert report.overlapping_pairs == 0  # the README says: disjoint from train
    assert report.shared_drugs == report.same_molecules  # a drug's SMILES is the same wherever it appears
    assert sum(b.count for b in report.histogram) == report.test_molecules
