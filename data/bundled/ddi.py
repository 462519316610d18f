"""DDI sets in the design of the DDI fine-tuning study: two drugs (names + SMILES) in, one label out.

Positives: the interactions listed by drug-interaction-mcp (FDA labels, DailyMed, literature), each drug
matched by name to its SMILES in admet-ai's drugbank_approved.csv. Entries that are not single approved
molecules (grapefruit, smoking, St. John's wort, insulin, heparin ...) have no SMILES there and are left out.
"""
from __future__ import annotations

import itertools
import random

import prompts
from data.bundled import Built
from data.records import Record
from data.splits import split

SEED = 0
FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
# drug-interaction-mcp's name -> DrugBank's name, where they differ for the same molecule.
SYNONYMS = {"aspirin": "acetylsalicylic acid", "alendronate": "alendronic acid", "lithium": "lithium carbonate",
            "mycophenolate": "mycophenolate mofetil"}
PACKAGES = ("drug-interaction-mcp", "admet-ai")
SOURCE = "drug-interaction-mcp 0.1.0 pairs; SMILES from admet-ai drugbank_approved.csv"
LICENCE = ("Interaction pairs: drug-interaction-mcp, MIT licence. Names, DrugBank ids and SMILES: admet-ai's "
           "drugbank_approved.csv (admet-ai is MIT; the content derives from DrugBank, whose open data is "
           "CC BY-NC 4.0: non-commercial use, cite DrugBank).")


def _drugbank() -> dict[str, dict]:
    """Lower-case DrugBank name -> row (name, id, smiles, atc)."""
    import csv

    from data.packages import package_file

    path = package_file("admet_ai", "resources/data/drugbank_approved.csv")
    with open(path, encoding="utf-8", newline="") as fh:
        return {row["name"].lower(): row for row in csv.DictReader(fh)}


def _match(aliases: tuple[str, ...], drugbank: dict[str, dict]) -> dict | None:
    for alias in aliases:
        row = drugbank.get(SYNONYMS.get(alias, alias))
        if row and row["smiles"]:
            return row
    return None


def listed_pairs() -> set[frozenset]:
    """Every DrugBank-id pair an entry covers. An entry's names can be a class with several members
    ("fluoxetine, sertraline, ssri" x "ibuprofen, naproxen, nsaid"), so all member pairs count as listed."""
    from drug_interaction_mcp.interactions import INTERACTIONS

    drugbank = _drugbank()
    listed = set()
    for interaction in INTERACTIONS:
        side_a = {row["id"] for name in interaction.drug_a if (row := drugbank.get(SYNONYMS.get(name, name)))}
        side_b = {row["id"] for name in interaction.drug_b if (row := drugbank.get(SYNONYMS.get(name, name)))}
        listed.update(frozenset((a, b)) for a in side_a for b in side_b if a != b)
    return listed


def positives() -> tuple[list[tuple[dict, dict, object]], list[str]]:
    """(drug row, drug row, Interaction) per entry whose drugs both have SMILES (the first name that has one
    stands for the entry); the names skipped for want of a SMILES."""
    from drug_interaction_mcp.interactions import INTERACTIONS

    drugbank = _drugbank()
    pairs, seen, skipped = [], set(), set()
    for interaction in INTERACTIONS:
        a, b = _match(interaction.drug_a, drugbank), _match(interaction.drug_b, drugbank)
        if a is None or b is None:
            skipped.update(side[0] for side, row in ((interaction.drug_a, a), (interaction.drug_b, b)) if row is None)
            continue
        key = frozenset((a["id"], b["id"]))
        if len(key) == 2 and key not in seen:
            seen.add(key)
            pairs.append((a, b, interaction))
    return pairs, sorted(skipped)


def _record(template: dict, a: dict, b: dict, label: str, number: int, task: str, **meta) -> Record:
    text = template["user"].format(drug1=a["name"], drug2=b["name"], smiles1=a["smiles"], smiles2=b["smiles"])
    return Record.chat(text, label, system=template["system"], task=task, label=label, id=f"{task}-{number:04d}",
                       source=SOURCE, drug1=a["name"], drug2=b["name"], smiles1=a["smiles"], smiles2=b["smiles"],
                       drugbank_id1=a["id"], drugbank_id2=b["id"], **meta)


def binary() -> Built:
    template = prompts.load("ddi")["binary"]
    pairs, skipped = positives()
    rng = random.Random(SEED)
    pool = sorted({row["id"]: row for a, b, _ in pairs for row in (a, b)}.values(), key=lambda r: r["id"])
    listed = listed_pairs()
    unlisted = [(a, b) for a, b in itertools.combinations(pool, 2) if frozenset((a["id"], b["id"])) not in listed]
    negatives = rng.sample(unlisted, len(pairs))
    records = []
    for number, (a, b, interaction) in enumerate(pairs):
        a, b = (a, b) if rng.random() < 0.5 else (b, a)  # the listed order must not give the class away
        records.append(_record(template, a, b, "interaction", number, "ddi_binary",
                               severity=interaction.severity.value))
    for number, (a, b) in enumerate(negatives, len(pairs)):
        a, b = (a, b) if rng.random() < 0.5 else (b, a)
        records.append(_record(template, a, b, "no interaction", number, "ddi_binary"))
    return Built(split(records, FRACTIONS, seed=SEED, stratify="label"),
                 provenance=f"{len(pairs)} interacting pairs from drug-interaction-mcp whose two drugs have SMILES in "
                 f"admet-ai's drugbank_approved.csv, and as many non-interacting pairs drawn (seed {SEED}) from "
                 "the same drugs. Split 80/10/10, stratified by label.",
                 licence=LICENCE, packages=PACKAGES, notes=[
                     "Negatives are pairs that drug-interaction-mcp does not list as interacting. Its list is short "
                     "(176 entries), so some negatives may interact in reality: 'no interaction' means 'not listed'.",
                     "Every drug in a negative pair also appears in a positive pair, so a model cannot tell the "
                     "class from one drug's name alone.",
                     "Targets are not included: none of the installed packages lists drug targets.",
                     f"Left out (no approved single-molecule SMILES): {', '.join(skipped)}."])


def severity() -> Built:
    template = prompts.load("ddi")["severity"]
    pairs, skipped = positives()
    rng = random.Random(SEED)
    records = []
    for number, (a, b, interaction) in enumerate(pairs):
        a, b = (a, b) if rng.random() < 0.5 else (b, a)
        records.append(_record(template, a, b, interaction.severity.value, number, "ddi_severity",
                               mechanism=interaction.mechanism, recommendation=interaction.recommendation,
                               reference=interaction.source))
    return Built(split(records, FRACTIONS, seed=SEED, stratify="label"),
                 provenance=f"The {len(pairs)} interacting pairs of ddi-binary with drug-interaction-mcp's severity "
                 "(danger / warning / caution), mechanism and recommendation. Split 80/10/10, stratified.",
                 licence=LICENCE, packages=PACKAGES, notes=[
                     "Severity is drug-interaction-mcp's three-level grading, not DrugBank's or Lexicomp's.",
                     f"Left out (no approved single-molecule SMILES): {', '.join(skipped)}."])
