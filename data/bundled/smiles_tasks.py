"""Name <-> SMILES tasks over approved drugs (admet-ai's drugbank_approved.csv), checked with RDKit."""
from __future__ import annotations

import prompts
from data.bundled import Built
from data.records import Record
from data.splits import split

SEED = 0
LICENCE = ("admet-ai is MIT; the names and structures derive from DrugBank, whose open data is CC BY-NC 4.0 "
           "(non-commercial use, cite DrugBank).")


def drugs() -> tuple[list[dict], int]:
    """Approved drugs whose SMILES parses and is a single molecule (salts and mixtures left out); the dropped count."""
    import csv

    from rdkit import Chem, RDLogger

    from data.packages import package_file

    RDLogger.DisableLog("rdApp.*")
    kept, dropped = [], 0
    with open(package_file("admet_ai", "resources/data/drugbank_approved.csv"), encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            smiles = row["smiles"]
            if "." in smiles or Chem.MolFromSmiles(smiles) is None:
                dropped += 1
                continue
            kept.append({"name": row["name"], "smiles": smiles, "id": row["id"]})
    return kept, dropped


def _built(records: list[Record], dropped: int, direction: str) -> Built:
    return Built(split(records, {"train": 0.8, "validation": 0.1, "test": 0.1}, seed=SEED, stratify=False),
                 provenance=f"{len(records):,} approved drugs from admet-ai's drugbank_approved.csv ({direction}); "
                 f"{dropped} entries whose SMILES has several components (salts, mixtures) or does not parse with "
                 "RDKit are left out. Split 80/10/10, seed 0.", licence=LICENCE, packages=("admet-ai",),
                 notes=["A SMILES answer is judged by canonical match (RDKit), not string equality: one molecule "
                        "has many valid SMILES strings."])


def _task(task: str, answer_field: str, direction: str) -> Built:
    template = prompts.load("datasets")[task]
    rows, dropped = drugs()
    records = [Record.chat(template["user"].format(drug=d["name"], smiles=d["smiles"]), d[answer_field],
                           system=template["system"], task=task, label=d[answer_field], smiles=d["smiles"],
                           drug=d["name"], drugbank_id=d["id"], id=f"{task}-{n:04d}",
                           source="admet-ai drugbank_approved.csv")
               for n, d in enumerate(rows)]
    return _built(records, dropped, direction)


def name_to_smiles() -> Built:
    return _task("name_to_smiles", "smiles", "name → SMILES")


def smiles_to_name() -> Built:
    return _task("smiles_to_name", "name", "SMILES → name")
