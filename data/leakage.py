"""Leakage between a training set and a test set: what a test item gives away because train already holds it.

Pairs (fields drug1, drug2): test pairs found in train in the same order (exact) or only in the other order
(swapped), the drugs both sides share and the test pairs that touch them. Molecules (fields smiles, smiles1,
smiles2): each distinct test molecule's nearest neighbour in train by Tanimoto similarity of Morgan
fingerprints (radius 2, 2,048 bits; RDKit's BulkTanimotoSimilarity), as counts and a histogram in bins of 0.1.

Fields are read from a record's meta (the records format, bundled and shared sets) or straight from a row (a plain
JSONL or CSV of pairs or molecules), so a file needs no chat columns to be checked.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from data.records import DataError, Record
from data.splits import PAIR_FIELDS, drug_key

RADIUS, BITS = 2, 2048
BIN_WIDTH = 0.1
SMILES_FIELDS = ("smiles", "smiles1", "smiles2")
NAMES_SHOWN = 20


@dataclass
class Bin:
    low: float
    high: float
    count: int

    @property
    def label(self) -> str:
        return f"{self.low:.1f}–{self.high:.1f}"


@dataclass
class Neighbour:
    """One distinct test molecule and its most similar training molecule."""

    smiles: str
    nearest: str
    similarity: float


@dataclass
class LeakageReport:
    train: str  # names of the two sides, as shown
    test: str
    train_rows: int
    test_rows: int
    # pairs: counted over test rows; drugs by name (case and spacing ignored)
    has_pairs: bool = False
    train_pairs: int = 0
    test_pairs: int = 0
    exact_pairs: int = 0  # test pairs whose (drug1, drug2) is a train pair in the same order
    swapped_pairs: int = 0  # test pairs found in train only as (drug2, drug1)
    test_drugs: int = 0
    shared_drugs: int = 0
    pairs_with_a_shared_drug: int = 0  # test pairs with at least one drug that a train pair has
    pairs_with_both_shared: int = 0
    shared_drug_names: list[str] = field(default_factory=list)  # the first NAMES_SHOWN, sorted
    # molecules: distinct by canonical SMILES
    has_molecules: bool = False
    train_molecules: int = 0
    test_molecules: int = 0
    same_molecules: int = 0  # test molecules that train holds too (same canonical SMILES)
    unreadable_smiles: int = 0
    histogram: list[Bin] = field(default_factory=list)  # nearest-neighbour similarity, 10 bins of 0.1
    neighbours: list[Neighbour] = field(default_factory=list)  # every test molecule, most similar first
    notes: list[str] = field(default_factory=list)

    @property
    def overlapping_pairs(self) -> int:
        return self.exact_pairs + self.swapped_pairs

    @property
    def similarities(self) -> list[float]:
        return [n.similarity for n in self.neighbours]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["overlapping_pairs"] = self.overlapping_pairs
        return out

    def markdown(self, neighbours: int = 0) -> str:
        """The report as markdown; `neighbours` > 0 adds a table of the most similar test molecules."""
        lines = [f"### Leakage: {self.train} (train) → {self.test} (test)", "",
                 f"{self.train_rows:,} train rows, {self.test_rows:,} test rows."]
        if self.has_pairs:
            verdicts = [("cold-pair" if not self.overlapping_pairs else "**not cold-pair**"),
                        ("cold-drug" if not self.shared_drugs else "**not cold-drug**")]
            lines += ["", f"**Pairs** ({self.test_pairs:,} test, {self.train_pairs:,} train; "
                      + ", ".join(verdicts) + f"): {self.exact_pairs:,} test pairs are also train pairs in the same "
                      f"order, {self.swapped_pairs:,} only in the swapped order ({self.overlapping_pairs:,} in "
                      "either order).",
                      "", f"**Drugs**: {self.shared_drugs:,} of {self.test_drugs:,} test drugs"
                      f" ({_percent(self.shared_drugs, self.test_drugs)}) also appear in train pairs; "
                      f"{self.pairs_with_a_shared_drug:,} test pairs have at least one of them, "
                      f"{self.pairs_with_both_shared:,} both."]
            if self.shared_drug_names:
                more = self.shared_drugs - len(self.shared_drug_names)
                lines.append("Shared: " + ", ".join(self.shared_drug_names) + (f" and {more:,} more" if more else "")
                             + ".")
        if self.has_molecules:
            lines += ["", f"**Molecules** ({self.test_molecules:,} distinct in test, {self.train_molecules:,} in "
                      f"train): {self.same_molecules:,} test molecules are train molecules "
                      f"({_percent(self.same_molecules, self.test_molecules)})."]
            if self.neighbours:
                sims = self.similarities
                lines[-1] += (f" Nearest-neighbour Tanimoto similarity to train (Morgan, radius {RADIUS}, "
                              f"{BITS:,} bits): mean {statistics.fmean(sims):.3f}, median "
                              f"{statistics.median(sims):.3f}; {sum(s >= 1.0 for s in sims):,} at 1.0.")
                lines += ["", "| similarity | test molecules |", "|---|---:|"]
                lines += [f"| {b.label} | {b.count:,} |" for b in self.histogram]
            if neighbours and self.neighbours:
                lines += ["", "| test molecule | nearest train molecule | similarity |", "|---|---|---:|"]
                lines += [f"| `{n.smiles}` | `{n.nearest}` | {n.similarity:.3f} |" for n in self.neighbours[:neighbours]]
        if self.notes:
            lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "—"


# --- reading the fields ----------------------------------------------------------------------------------------

def fields_of_records(records: list[Record]) -> list[dict]:
    return [r.meta for r in records]


def fields_of_file(path: str | Path, split: str | None = None) -> tuple[list[dict], int]:
    """Each readable row's fields (a records row's meta, or the row itself) and how many rows could not be read."""
    from data.sources import iter_rows

    rows, unreadable = [], 0
    for _, row, _ in iter_rows(path, split):
        if row is None:
            unreadable += 1
        elif isinstance(row.get("meta"), dict):
            rows.append(row["meta"])
        else:
            rows.append(row)
    return rows, unreadable


def _pair(row: dict) -> tuple[str, str] | None:
    a, b = (row.get(f) for f in PAIR_FIELDS)
    if a in (None, "") or b in (None, "") or not isinstance(a, str) or not isinstance(b, str):
        return None
    return drug_key(a), drug_key(b)


def _smiles(row: dict) -> list[str]:
    out = []
    for name in SMILES_FIELDS:
        value = row.get(name)
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and text.strip():
                out.append(text.strip())
    return out


# --- the report ------------------------------------------------------------------------------------------------

def compare(train: list[dict], test: list[dict], *, train_name: str = "train", test_name: str = "test") -> LeakageReport:
    """The leakage report of `test` against `train` (lists of field dicts: a record's meta or a raw row)."""
    report = LeakageReport(train_name, test_name, len(train), len(test))
    train_pairs = [p for p in map(_pair, train) if p]
    test_pairs = [p for p in map(_pair, test) if p]
    has_smiles = [any(_smiles(r) for r in side) for side in (train, test)]
    if not (train_pairs and test_pairs) and not all(has_smiles):
        missing = [name for name, rows, pairs, smiles in ((train_name, train, train_pairs, has_smiles[0]),
                                                           (test_name, test, test_pairs, has_smiles[1]))
                   if not pairs and not smiles]
        raise DataError(f"{' and '.join(missing) or test_name} has no drug1/drug2 or smiles fields: a leakage report "
                        "compares drug pairs (fields drug1 and drug2) and molecules (smiles, smiles1, smiles2). "
                        "The bundled ddi sets, freesolv, solubility and shared:ddi have them; a plain file needs "
                        "those columns.")
    if train_pairs and test_pairs:
        _pairs(report, train_pairs, test_pairs, _names(train + test))
    elif train_pairs or test_pairs:
        lacking = test_name if train_pairs else train_name
        report.notes.append(f"Pair overlap not computed: {lacking} has no drug1/drug2 fields.")
    if all(has_smiles):
        _molecules(report, train, test)
    elif any(has_smiles):
        lacking = test_name if has_smiles[0] else train_name
        report.notes.append(f"Molecule similarity not computed: {lacking} has no smiles, smiles1 or smiles2 fields.")
    for name, rows, pairs in ((train_name, train, train_pairs), (test_name, test, test_pairs)):
        if pairs and len(pairs) < len(rows):
            report.notes.append(f"{len(rows) - len(pairs):,} {name} rows have no drug1/drug2 and are not in the "
                                "pair counts.")
    return report


def _names(rows: list[dict]) -> dict[str, str]:
    """drug key -> the name as first written."""
    out = {}
    for row in rows:
        for name in PAIR_FIELDS:
            if isinstance(row.get(name), str):
                out.setdefault(drug_key(row[name]), row[name].strip())
    return out


def _pairs(report: LeakageReport, train_pairs, test_pairs, names: dict[str, str]) -> None:
    ordered = set(train_pairs)
    train_drugs = {d for p in train_pairs for d in p}
    test_drugs = {d for p in test_pairs for d in p}
    shared = train_drugs & test_drugs
    report.has_pairs = True
    report.train_pairs, report.test_pairs = len(train_pairs), len(test_pairs)
    report.exact_pairs = sum(p in ordered for p in test_pairs)
    report.swapped_pairs = sum(p not in ordered and (p[1], p[0]) in ordered for p in test_pairs)
    report.test_drugs, report.shared_drugs = len(test_drugs), len(shared)
    report.pairs_with_a_shared_drug = sum(a in shared or b in shared for a, b in test_pairs)
    report.pairs_with_both_shared = sum(a in shared and b in shared for a, b in test_pairs)
    report.shared_drug_names = [names.get(d, d) for d in sorted(shared)[:NAMES_SHOWN]]


def fingerprint(mol):
    """The Morgan fingerprint every similarity here uses (radius 2, 2,048 bits)."""
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=RADIUS, fpSize=BITS).GetFingerprint(mol)


def _canonical(rows: list[dict]) -> tuple[dict[str, tuple[str, object]], int]:
    """canonical SMILES -> (the SMILES as first written, molecule); and how many SMILES RDKit cannot read."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    out, bad, seen = {}, 0, {}
    for row in rows:
        for text in _smiles(row):
            if text in seen:
                continue
            mol = Chem.MolFromSmiles(text)
            seen[text] = mol
            if mol is None:
                bad += 1
                continue
            out.setdefault(Chem.MolToSmiles(mol), (text, mol))
    return out, bad


def _molecules(report: LeakageReport, train: list[dict], test: list[dict]) -> None:
    from rdkit import DataStructs

    train_mols, bad_train = _canonical(train)
    test_mols, bad_test = _canonical(test)
    report.has_molecules = True
    report.train_molecules, report.test_molecules = len(train_mols), len(test_mols)
    report.same_molecules = len(train_mols.keys() & test_mols.keys())
    report.unreadable_smiles = bad_test
    if bad_train or bad_test:
        report.notes.append(f"RDKit cannot read {bad_train:,} train and {bad_test:,} test SMILES; they are left out.")
    counts = [0] * round(1 / BIN_WIDTH)
    if train_mols and test_mols:
        train_smiles = [text for text, _ in train_mols.values()]
        train_fps = [fingerprint(mol) for _, mol in train_mols.values()]
        for text, mol in test_mols.values():
            sims = DataStructs.BulkTanimotoSimilarity(fingerprint(mol), train_fps)
            best = max(range(len(sims)), key=sims.__getitem__)
            report.neighbours.append(Neighbour(text, train_smiles[best], float(sims[best])))
            counts[min(len(counts) - 1, math.floor(sims[best] / BIN_WIDTH + 1e-9))] += 1
        report.neighbours.sort(key=lambda n: -n.similarity)
    report.histogram = [Bin(round(i * BIN_WIDTH, 1), round((i + 1) * BIN_WIDTH, 1), c) for i, c in enumerate(counts)]


# --- sides named by reference ----------------------------------------------------------------------------------

def side(ref: str | Path, split: str | None = None) -> tuple[list[dict], str]:
    """The fields of one side: a bundled/shared set's split (records), or any file; and its name for the report."""
    from data import catalog

    ref = str(ref)
    scheme, _ = catalog.parse(ref)
    if scheme in ("bundled", "shared"):
        split = split or "train"
        rows, _ = fields_of_file(catalog.file_for(ref, split))
        return rows, f"{ref} {split}"
    path = catalog.file_for(ref)
    rows, unreadable = fields_of_file(path, split)
    if not rows:
        raise DataError(f"{path.name}: no rows could be read" + (f" ({unreadable:,} bad lines)" if unreadable else "")
                        + "; validate the file for the details.")
    return rows, path.name


def default_test_split(ref: str) -> str | None:
    """test if the set has one, else validation, else None (a file has no splits)."""
    from data import catalog

    if catalog.parse(str(ref))[0] not in ("bundled", "shared"):
        return None
    names = catalog.splits(str(ref))
    return next((s for s in ("test", "validation") if s in names), names[-1] if names else None)


def report_of(train_ref: str | Path, test_ref: str | Path | None = None, *, train_split: str | None = None,
              test_split: str | None = None) -> LeakageReport:
    """The report of two sets (or splits of one): test_ref defaults to train_ref, test_split to its test (or
    validation) split."""
    test_ref = test_ref if test_ref is not None else train_ref
    if test_split is None:
        test_split = default_test_split(test_ref)
    train_rows, train_name = side(train_ref, train_split)
    test_rows, test_name = side(test_ref, test_split)
    if train_name == test_name:
        train_name, test_name = f"{train_name} (as train)", f"{test_name} (as test)"
    return compare(train_rows, test_rows, train_name=train_name, test_name=test_name)


def report_of_split(parts: dict[str, list[Record]], test_part: str = "test", name: str = "split") -> LeakageReport:
    """The report of a split's train part against one of its other parts."""
    if "train" not in parts or test_part not in parts:
        raise DataError(f"The split has parts {', '.join(parts)}: a leakage report needs 'train' and '{test_part}'.")
    return compare(fields_of_records(parts["train"]), fields_of_records(parts[test_part]),
                   train_name=f"{name} train", test_name=f"{name} {test_part}")
