"""PubChem compound CSV -> name-to-SMILES and computed-property records.

Reads the CSV that PubChem's search results "Download" button gives (cid, cmpdname, isosmiles, mf, mw, xlogp,
polararea, hbonddonor, hbondacc, ...) and PUG REST property tables (CID, Title, SMILES, MolecularFormula, ...).
Column names are matched case- and punctuation-insensitively. Rows whose SMILES RDKit cannot parse are skipped:
build_with_report() returns them as warning Issues, build() logs them.
"""
from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

from rdkit import Chem, rdBase

import prompts
from data.records import DataError, Issue, Record

DESCRIPTION = "PubChem compound CSV (search-results download or PUG REST table) -> name-to-SMILES and property records"
SOURCE = "PubChem"
log = logging.getLogger(__name__)

# What each column means -> accepted names (normalized: lower case, letters and digits only), preferred first.
# SMILES: the isomeric (full) one before the connectivity-only one; newer exports call the isomeric one "SMILES".
COLUMNS = {
    "cid": ["cid"],
    "name": ["cmpdname", "title", "name", "iupacname"],
    "smiles": ["isosmiles", "isomericsmiles", "smiles", "canonicalsmiles", "connectivitysmiles"],
    "formula": ["mf", "molecularformula"],
    "weight": ["mw", "molecularweight"],
    "xlogp": ["xlogp", "xlogp3"],
    "tpsa": ["tpsa", "polararea"],
    "donors": ["hbonddonor", "hbonddonorcount"],
    "acceptors": ["hbondacc", "hbondacceptorcount"],
}
PROPERTIES = ["formula", "weight", "xlogp", "tpsa", "donors", "acceptors"]


def build(path: str | Path) -> list[Record]:
    """The records; skipped rows go to the log as warnings (use build_with_report to get them)."""
    records, issues = build_with_report(path)
    for issue in issues:
        log.warning("%s: %s", path, issue)
    return records


def build_with_report(path: str | Path) -> tuple[list[Record], list[Issue]]:
    """Records in row order (name_to_smiles, then compound_properties per row) and one warning Issue per skipped row."""
    path = Path(path)
    rows = _read_rows(path)
    header, body = rows[0][1], rows[1:]
    columns = _find_columns(header)
    if "smiles" not in columns or "name" not in columns:
        raise DataError(f"{path}, line 1: not a PubChem compound CSV; need a name column (cmpdname, Title, ...) and "
                        f"a SMILES column (isosmiles, canonicalsmiles, SMILES, ...); found: {', '.join(header)}")
    templates = prompts.load("instruction_builders")
    records, issues = [], []
    for line, values in body:
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise DataError(f"{path}, line {line}: expected {len(header)} columns, found {len(values)}")
        row = {what: _first(values, indexes) for what, indexes in columns.items()}
        smiles_field = header[columns["smiles"][0]]
        if not row["name"]:
            issues.append(Issue(f"line {line}", header[columns["name"][0]], "no compound name; row skipped",
                                "missing_name", "warning"))
            continue
        if not row["smiles"]:
            issues.append(Issue(f"line {line}", smiles_field, "no SMILES; row skipped", "missing_smiles", "warning"))
            continue
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(row["smiles"])
        if mol is None:
            issues.append(Issue(f"line {line}", smiles_field, f"RDKit cannot parse SMILES {row['smiles']!r}; "
                                "row skipped", "invalid_smiles", "warning"))
            continue
        meta = {"id": f"CID{row['cid']}" if row.get("cid") else None, "source": SOURCE, "drug": row["name"],
                "smiles": row["smiles"]}
        t = templates["name_to_smiles"]
        records.append(Record.chat(t["prompt"].format(name=row["name"]), row["smiles"], task="name_to_smiles",
                                   **meta))
        t = templates["compound_properties"]
        facts = [t["properties"][p].format(value=row[p]) for p in PROPERTIES if row.get(p)]
        if facts:
            records.append(Record.chat(t["prompt"].format(name=row["name"]), " ".join(facts),
                                       task="compound_properties", **meta))
    return records, issues


def _normalize(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _find_columns(header: list[str]) -> dict[str, list[int]]:
    """meaning -> indexes of the matching columns in preference order; meanings with no column are left out."""
    index = {}
    for i, name in enumerate(header):
        index.setdefault(_normalize(name), i)
    found = {what: [index[n] for n in names if n in index] for what, names in COLUMNS.items()}
    return {what: indexes for what, indexes in found.items() if indexes}


def _first(values: list[str], indexes: list[int]) -> str:
    """The first non-empty value among the columns, so a row missing isosmiles falls back to canonicalsmiles."""
    return next((values[i].strip() for i in indexes if values[i].strip()), "")


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number where the row ends, values) for every row, header first."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            rows = [(reader.line_num, values) for values in reader]
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot be read ({e})") from None
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: not valid CSV ({e})") from None
    if not rows:
        raise DataError(f"{path}: empty file, expected a PubChem CSV with a header line")
    return rows
