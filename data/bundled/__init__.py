"""Bundled data sets, regenerated deterministically from installed packages by `python -m data build-bundled`.

Each builder returns a Built (splits of records, provenance, licence, caveats). build() writes one folder per
set under settings.data_dir()/bundled: <split>.jsonl in the records format, README.md with provenance and
licence, and manifest.json (counts and package versions: a different version rebuilds the set).
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import settings
from data.records import DataError, Record


@dataclass
class Built:
    splits: dict[str, list[Record]]
    provenance: str
    licence: str
    notes: list[str] = field(default_factory=list)
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class BundledSet:
    description: str
    builder: str  # "module:function" returning Built


BUNDLED: dict[str, BundledSet] = {
    "ddi-binary": BundledSet("Drug–drug interaction yes/no from names + SMILES, balanced (DDI study design)",
                             "data.bundled.ddi:binary"),
    "ddi-severity": BundledSet("Severity of a known interaction: danger, warning or caution",
                               "data.bundled.ddi:severity"),
    "drug-qa": BundledSet("Hand-written drug questions: mechanism, indication, adverse events, interactions, "
                          "class, SMILES", "data.bundled.drug_qa:build"),
    "freesolv": BundledSet("FreeSolv hydration free energy (kcal/mol) from SMILES: regression",
                           "data.bundled.properties:freesolv"),
    "solubility": BundledSet("Aqueous solubility log S from SMILES: regression", "data.bundled.properties:solubility"),
    "moleculeace-chembl2047-ec50": BundledSet("MoleculeACE FXR pEC50 from SMILES, with activity-cliff labels: "
                                              "regression", "data.bundled.moleculeace:chembl2047_ec50"),
    "moleculeace-chembl214-ki": BundledSet("MoleculeACE 5-HT1A pKi from SMILES, with activity-cliff labels: regression",
                                           "data.bundled.moleculeace:chembl214_ki"),
    "moleculeace-chembl234-ki": BundledSet("MoleculeACE dopamine D3 pKi from SMILES, with activity-cliff labels: "
                                           "regression", "data.bundled.moleculeace:chembl234_ki"),
    "name-to-smiles": BundledSet("Approved drug name → SMILES", "data.bundled.smiles_tasks:name_to_smiles"),
    "smiles-to-name": BundledSet("SMILES → approved drug name", "data.bundled.smiles_tasks:smiles_to_name"),
}


def bundled_dir() -> Path:
    return settings.data_dir() / "bundled"


def _run_builder(name: str) -> Built:
    module, _, function = BUNDLED[name].builder.partition(":")
    return getattr(importlib.import_module(module), function)()


def manifest_of(name: str, built: Built) -> dict:
    from data.packages import version

    return {"name": name, "builder_version": BUILDER_VERSION,
            "packages": {p: version(p) for p in built.packages},
            "counts": {split: len(records) for split, records in built.splits.items()}}


BUILDER_VERSION = 2  # bump when a builder's output changes, so existing copies are rebuilt


def build(names: list[str] | None = None, out_dir: Path | None = None, log=print) -> dict[str, dict]:
    """Build the named sets (all by default) into out_dir; each folder is replaced atomically."""
    from data.export import write

    out_dir = Path(out_dir or bundled_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    manifests = {}
    for name in names or list(BUNDLED):
        if name not in BUNDLED:
            import difflib

            close = difflib.get_close_matches(name, BUNDLED, n=1)
            raise DataError(f"No bundled set {name!r}." + (f" Did you mean {close[0]!r}?" if close else "")
                            + f" Known: {', '.join(BUNDLED)}")
        built = _run_builder(name)
        tmp = out_dir / f".{name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for split, records in built.splits.items():
            write(records, tmp / f"{split}.jsonl", "records")
        manifest = manifest_of(name, built)
        (tmp / "README.md").write_text(_readme(name, built, manifest), encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        target = out_dir / name
        old = out_dir / f".{name}.old-{os.getpid()}"
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
        manifests[name] = manifest
        log(f"{name}: " + ", ".join(f"{s} {n:,}" for s, n in manifest["counts"].items()) + f" → {target}")
    return manifests


def ensure_built(name: str) -> Path:
    """The set's folder, built first if it is missing or was built by another builder/package version."""
    folder = bundled_dir() / name
    if _current(folder):
        return folder
    bundled_dir().mkdir(parents=True, exist_ok=True)
    with open(bundled_dir() / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _current(folder):
            build([name], log=lambda _: None)
    return folder


def _current(folder: Path) -> bool:
    from data.packages import version

    with contextlib.suppress(OSError, ValueError):
        manifest = json.loads((folder / "manifest.json").read_text())
        return (manifest.get("builder_version") == BUILDER_VERSION
                and all(version(p) == v for p, v in manifest.get("packages", {}).items()))
    return False


def _readme(name: str, built: Built, manifest: dict) -> str:
    lines = [f"# {name}", "", BUNDLED[name].description + ".", "",
             "Generated by `python -m data build-bundled`; do not edit by hand.", "",
             "## Provenance", "", built.provenance, "", "## Licence", "", built.licence, ""]
    if built.notes:
        lines += ["## Caveats", ""] + [f"- {note}" for note in built.notes] + [""]
    lines += ["## Counts", ""] + [f"- {split}: {n:,}" for split, n in manifest["counts"].items()]
    if manifest["packages"]:
        lines += ["", "## Built from", ""] + [f"- {p} {v}" for p, v in manifest["packages"].items()]
    return "\n".join(lines) + "\n"
