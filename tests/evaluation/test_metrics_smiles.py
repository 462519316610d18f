"""SMILES extraction and the RDKit metrics: validity counts invalid SMILES, values equal direct RDKit computations."""
from __future__ import annotations

import pytest
from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import rdFingerprintGenerator

from evaluation import parsers
from evaluation.metrics import METRICS, MetricError
from evaluation.metrics.smiles import (canonical_match, extract_smiles, morgan_tanimoto, smiles_exact_match,
                                       smiles_validity, tanimoto, validity_rate)

RDLogger.DisableLog("rdApp.*")
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
IBUPROFEN = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
CAFFEINE = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"


@pytest.mark.parametrize("text,expected", [
    (f"The SMILES is {ASPIRIN}.", [ASPIRIN]),
    (ASPIRIN, [ASPIRIN]),
    (f"SMILES: `{IBUPROFEN}`", [IBUPROFEN]),
    (f"SMILES:{IBUPROFEN}", [IBUPROFEN]),
    (f'"{CAFFEINE}"', [CAFFEINE]),
    (f"**{CAFFEINE}**", [CAFFEINE]),
    (f"```smiles\n{ASPIRIN}\n```", [ASPIRIN]),
    ("Ethanol (CCO), benzene (c1ccccc1); salt: [Na+].[Cl-]", ["CCO", "c1ccccc1", "[Na+].[Cl-]"]),
    ("CCO and C1CC", ["CCO", "C1CC"]),
    ("C1=CC=CC=C1 (benzene)", ["C1=CC=CC=C1"]),
    ("(S)-warfarin fragment: C[C@H](O)CC", ["C[C@H](O)CC"]),
    ("N#N, O=C=O", ["N#N", "O=C=O"]),
    ("CC", ["CC"]),  # an answer that is one SMILES alone
    ("Aspirin", []),
    ("the", []),
    ("I don't know.", []),
    ("No", []),
    ("It inhibits CYP3A4 with an IC50 of 5 nM, as CO2 and H2O do not.", []),
    ("PPI, BBB and CNS effects (n=3), see [1]", []),
    ("Take it soon.", []),
    ("", []),
])
def test_extract_smiles(text, expected):
    assert extract_smiles(text) == expected


def test_smiles_parser_drops_reasoning_first():
    assert parsers.get("smiles").fn("<think>maybe CCN</think>The answer is CCO.") == ["CCO"]


def test_validity_denominator_counts_invalid_smiles():
    found = extract_smiles("CCO and C1CC")  # C1CC: ring 1 never closes
    assert smiles_validity([found], ["CCO"])["smiles_validity"] == 0.5


def test_validity_equals_direct_rdkit_count():
    answers = [f"The SMILES is {ASPIRIN}.", "CCO and C1CC", "No idea.", f"{IBUPROFEN} or c1cccc1", "CC(C"]
    found = [extract_smiles(a) for a in answers]
    flat = [s for smiles in found for s in smiles]
    assert flat == [ASPIRIN, "CCO", "C1CC", IBUPROFEN, "c1cccc1", "CC(C"]
    valid = sum(Chem.MolFromSmiles(s) is not None for s in flat)
    assert smiles_validity(found, [""] * 5) == {"smiles_validity": valid / len(flat), "smiles_found": 6,
                                                "items_without_smiles": 1}
    assert valid == 3


def test_validity_without_any_smiles_is_none():
    assert smiles_validity([[], []], ["CCO", "CCO"]) == {"smiles_validity": None, "smiles_found": 0,
                                                         "items_without_smiles": 2}
    assert validity_rate([]) is None and validity_rate(["CCO", "C1CC"]) == 0.5


def test_exact_match_on_canonical_smiles():
    predictions = [["OC(=O)c1ccccc1OC(C)=O"], ["C1CC", "OCC"], [IBUPROFEN], []]
    references = [ASPIRIN, "CCO", CAFFEINE, "CCO"]
    direct = []
    for candidates, reference in zip(predictions, references):
        mol = next((m for m in map(Chem.MolFromSmiles, candidates) if m is not None), None)
        canonical = Chem.MolToSmiles(Chem.MolFromSmiles(reference))
        direct.append(float(mol is not None and Chem.MolToSmiles(mol) == canonical))
    assert direct == [1.0, 1.0, 0.0, 0.0]
    assert smiles_exact_match(predictions, references) == {"smiles_exact_match": sum(direct) / 4}
    assert [canonical_match(p, r) for p, r in zip(predictions, references)] == direct


def test_tanimoto_equals_direct_rdkit():
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)

    def direct(a, b):
        return DataStructs.TanimotoSimilarity(generator.GetFingerprint(Chem.MolFromSmiles(a)),
                                              generator.GetFingerprint(Chem.MolFromSmiles(b)))

    predictions = [["c1ccccc1C(=O)O"], ["C1CC", IBUPROFEN], [CAFFEINE], ["C1CC"]]
    references = [ASPIRIN, ASPIRIN, CAFFEINE, ASPIRIN]
    expected = [direct("c1ccccc1C(=O)O", ASPIRIN), direct(IBUPROFEN, ASPIRIN), 1.0, 0.0]
    assert 0 < expected[0] < 1 and 0 < expected[1] < 1
    assert [morgan_tanimoto(p, r) for p, r in zip(predictions, references)] == expected
    assert tanimoto(predictions, references) == {"tanimoto": sum(expected) / 4}


def test_raw_text_predictions_are_parsed():
    assert tanimoto([f"It is {ASPIRIN}."], [ASPIRIN]) == {"tanimoto": 1.0}
    assert smiles_validity(["CCO and C1CC"], ["CCO"])["smiles_validity"] == 0.5


def test_invalid_reference_is_an_error():
    with pytest.raises(MetricError, match="not a valid SMILES"):
        smiles_exact_match([["CCO"]], ["C1CC"])
    with pytest.raises(MetricError, match="not a valid SMILES"):
        tanimoto([["CCO"]], [""])


def test_registry_entries():
    for name, item_fn in (("smiles_validity", validity_rate), ("smiles_exact_match", canonical_match),
                          ("tanimoto", morgan_tanimoto)):
        assert METRICS[name].kind == "smiles" and METRICS[name].item_fn is item_fn
    assert METRICS["smiles_validity"].outputs == {"smiles_validity": True, "smiles_found": True}
