"""The bundled hand-written drug QA set: structure, keywords, and SMILES/formula checked against DrugBank."""
import csv
import importlib.util
from collections import Counter
from functools import lru_cache
from pathlib import Path

import yaml
from rdkit import Chem, RDLogger
from rdkit.Chem.rdMolDescriptors import CalcMolFormula

QA_PATH = Path(__file__).resolve().parents[2] / "data" / "bundled" / "drug_qa.yaml"
CATEGORIES = {"mechanism", "indication", "adverse_events", "interaction", "drug_class", "smiles"}
REQUIRED = ("id", "category", "drug", "question", "answer")


@lru_cache(maxsize=1)
def load():
    with QA_PATH.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def items():
    return load()["items"]


def formula_of(smiles, largest_fragment=False):
    mol = Chem.MolFromSmiles(smiles)
    assert mol is not None, smiles
    if largest_fragment:
        mol = max(Chem.GetMolFrags(mol, asMols=True), key=lambda m: m.GetNumHeavyAtoms())
    return CalcMolFormula(mol)


@lru_cache(maxsize=1)
def drugbank():
    """Lower-cased DrugBank approved-drug name -> list of SMILES, from the admet_ai package."""
    root = importlib.util.find_spec("admet_ai").submodule_search_locations[0]
    path = Path(root) / "resources" / "data" / "drugbank_approved.csv"
    table = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            table.setdefault(row["name"].strip().lower(), []).append(row["smiles"])
    return table


def test_file_has_provenance_licence_and_enough_items_per_category():
    data = load()
    assert data["provenance"].strip() and data["licence"].strip()
    assert len(items()) >= 120
    counts = Counter(item["category"] for item in items())
    assert set(counts) == CATEGORIES
    assert all(count >= 20 for count in counts.values()), counts


def test_ids_and_questions_are_unique_and_well_formed():
    ids = [item["id"] for item in items()]
    questions = [item["question"].strip().lower() for item in items()]
    assert len(set(ids)) == len(ids)
    assert len(set(questions)) == len(questions)
    assert all(i.startswith("dqa-") and i[4:].isdigit() for i in ids)


def test_required_fields_are_present_and_non_empty():
    for item in items():
        for field in REQUIRED:
            assert isinstance(item.get(field), str) and item[field].strip(), (item.get("id"), field)
        assert item["category"] in CATEGORIES, item["id"]
        assert isinstance(item.get("keywords"), list), item["id"]
        if item["category"] == "smiles":
            assert item.get("smiles") and item.get("formula"), item["id"]
            assert item["answer"] == item["smiles"], item["id"]
        else:
            assert 2 <= len(item["keywords"]) <= 4, item["id"]
        if item["category"] == "interaction":
            assert isinstance(item.get("drug2"), str) and item["drug2"].strip(), item["id"]
            assert item["drug2"].lower() != item["drug"].lower(), item["id"]


def test_keywords_occur_in_answers():
    for item in items():
        answer = item["answer"].lower()
        for keyword in item["keywords"]:
            assert isinstance(keyword, str) and keyword.strip(), item["id"]
            assert keyword.lower() in answer, (item["id"], keyword)


def test_every_smiles_parses_and_matches_its_formula():
    with_smiles = [item for item in items() if "smiles" in item]
    assert len(with_smiles) >= 20
    for item in with_smiles:
        assert Chem.MolFromSmiles(item["smiles"]) is not None, item["id"]
        assert formula_of(item["smiles"]) == item["formula"], item["id"]


def test_formulas_agree_with_drugbank_reference_structures():
    table = drugbank()
    found = 0
    RDLogger.DisableLog("rdApp.*")  # some reference SMILES trigger harmless valence warnings
    try:
        for item in items():
            if "smiles" not in item:
                continue
            name = item.get("drugbank_name", item["drug"]).strip().lower()
            if name not in table:
                continue
            found += 1
            for reference in table[name]:
                assert formula_of(reference, largest_fragment=True) == item["formula"], (item["id"], reference)
    finally:
        RDLogger.EnableLog("rdApp.*")
    assert found >= 15, found


def test_drugbank_names_are_real_drugbank_entries():
    table = drugbank()
    named = [item for item in items() if "drugbank_name" in item]
    # The file's header says `drugbank_name` is set where DrugBank's name differs from `drug`: these are the
    # INN/BAN names whose DrugBank (USAN) entry is named otherwise. If none were found the loop below would test
    # nothing, so the set of drugs that carry one is pinned.
    assert {item["drug"] for item in named} == {"aspirin", "paracetamol", "salbutamol", "lithium"}
    for item in named:
        assert item["drugbank_name"].strip().lower() in table, item["id"]
        assert item["drug"].strip().lower() not in table, (item["id"], "drugbank_name is not needed")
    # Every item of those drugs carries the name, so a lookup never falls back to the wrong one.
    needing = {item["drug"] for item in named}
    assert all("drugbank_name" in item for item in items() if item["drug"] in needing)
