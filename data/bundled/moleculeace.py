"""MoleculeACE (van Tilborg, Alenicheva & Grisoni, J. Chem. Inf. Model. 2022): ChEMBL bioactivity regression
with activity-cliff labels, read from the CSVs the MoleculeACE package ships (never imported: its __init__ loads
torch models). Each CSV has smiles, exp_mean [nM], y (= -log10 of the value in nM), cliff_mol (1: the molecule
is part of an activity cliff) and split (train/test, the package's own split, kept as it is).

The label is pKi / pEC50 = -log10(value in mol/L) = 9 + y, the unit medicinal chemists quote; RMSE and MAE are
the same as on the package's y (a shift), so the figures compare with the paper's.
"""
from __future__ import annotations

import prompts
from data.bundled import Built
from data.records import DataError, Record

PACKAGE = "MoleculeACE"
# bundled name -> (MoleculeACE data set, the target in words); three well-studied targets of the 30
TARGETS = {
    "moleculeace-chembl2047-ec50": ("CHEMBL2047_EC50", "farnesoid X receptor (FXR)"),
    "moleculeace-chembl214-ki": ("CHEMBL214_Ki", "serotonin 1A (5-HT1A) receptor"),
    "moleculeace-chembl234-ki": ("CHEMBL234_Ki", "dopamine D3 receptor"),
}


def build(name: str) -> Built:
    """One MoleculeACE set as records: the prompt names the SMILES, the measure and the target; the answer is
    the p-value with two decimals; meta keeps the float label, smiles, cliff_mol (0/1) and the value in nM."""
    import csv

    from data.packages import package_file

    dataset, target = TARGETS[name]
    chembl_id, measure = dataset.split("_")
    template = prompts.load("moleculeace")["activity"]
    with open(package_file(PACKAGE, f"Data/benchmark_data/{dataset}.csv"), encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    splits: dict[str, list[Record]] = {"train": [], "test": []}
    for n, row in enumerate(rows, start=1):
        if row["split"] not in splits or row["cliff_mol"] not in ("0", "1"):
            raise DataError(f"{PACKAGE} {dataset}.csv row {n + 1}: split {row['split']!r} / cliff_mol "
                            f"{row['cliff_mol']!r} is not train/test and 0/1")
        value = 9 + float(row["y"])
        meta = {"smiles": row["smiles"], "measure": measure, "target": target}
        prompt = template["user"].format(**meta)
        splits[row["split"]].append(Record.chat(
            prompt, f"{value:.2f}", system=template["system"], task="regression", label=value,
            id=f"{name}-{n:04d}", dataset=name, cliff_mol=int(row["cliff_mol"]), chembl_id=chembl_id,
            exp_mean_nM=float(row["exp_mean [nM]"]), unit=f"p{measure} (-log10 mol/L)",
            source=f"MoleculeACE {dataset}", **meta))
    cliffs = {split: sum(r.meta["cliff_mol"] for r in records) for split, records in splits.items()}
    return Built(
        splits,
        provenance=f"MoleculeACE's {dataset} ({target}, {measure} from ChEMBL, curated by van Tilborg et al., "
                   "J. Chem. Inf. Model. 2022, 'Exposing the limitations of molecular machine learning with "
                   f"activity cliffs') as shipped in the {PACKAGE} package (Data/benchmark_data/{dataset}.csv), "
                   "with its own train/test split and activity-cliff labels.",
        licence="MoleculeACE is MIT-licensed; its data come from ChEMBL (CC BY-SA 3.0: cite ChEMBL and the "
                "MoleculeACE paper).",
        packages=(PACKAGE,),
        notes=[f"The label is p{measure} = 9 + the package's y (y is -log10 of the value in nM); the answer is "
               "the label with two decimals. RMSE equals RMSE on y.",
               "Activity-cliff molecules (cliff_mol = 1): " + ", ".join(f"{s} {c:,} of {len(splits[s]):,}"
                                                                       for s, c in cliffs.items())
               + ". The benchmark scores RMSE on all test molecules and on the cliff ones alone.",
               "No validation split: the package's train/test split is kept as it is (training runs without "
               "validation, or with another set's)."])


def chembl2047_ec50() -> Built:
    return build("moleculeace-chembl2047-ec50")


def chembl214_ki() -> Built:
    return build("moleculeace-chembl214-ki")


def chembl234_ki() -> Built:
    return build("moleculeace-chembl234-ki")
