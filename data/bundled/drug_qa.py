"""The hand-written drug QA items (data/bundled/drug_qa.yaml, committed) as records, split by category."""
from __future__ import annotations

from pathlib import Path

import yaml

import prompts
from data.bundled import Built
from data.records import Record
from data.splits import split

SOURCE = Path(__file__).with_name("drug_qa.yaml")
SEED = 0


def items() -> dict:
    return yaml.safe_load(SOURCE.read_text(encoding="utf-8"))


def build() -> Built:
    data = items()
    system = prompts.load("datasets")["drug_qa"]["system"]
    records = []
    for item in data["items"]:
        meta = {k: v for k, v in item.items() if k not in ("question", "answer") and v not in (None, [], "")}
        meta.update(task="drug_qa", source="PharmaTune hand-written drug QA")
        if item["category"] == "smiles":
            meta["label"] = item["smiles"]
        records.append(Record.chat(item["question"], item["answer"], system=system, **meta))
    return Built(split(records, {"train": 0.8, "test": 0.2}, seed=SEED, stratify="category"),
                 provenance=data["provenance"], licence=data["licence"],
                 notes=["Every SMILES parses with RDKit and matches the drug's molecular formula (tests check it).",
                        "Split 80/20 stratified by category (mechanism, indication, adverse_events, interaction, "
                        "drug_class, smiles), seed 0."])
