"""Loaders for the real sets beside the project (../shared/data): MedQuAD and the DDI study's pairs.

They are read where they lie and converted to records in settings.data_dir()/shared (rebuilt when the source
changes); never copied into the repository. When the folder is absent, SharedDataMissing says so and where.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import prompts
import settings
from data.records import DataError, Record


class SharedDataMissing(DataError):
    """The shared data folder (or one of its files) is not on this machine."""


@dataclass(frozen=True)
class SharedSet:
    folder: str
    description: str
    fields: tuple[str, ...]
    prompt: tuple[str, str]  # (prompts file, key): the template, loaded once per conversion
    to_record: Callable[[dict, dict], Record]


def _medquad(row: dict, template: dict) -> Record:
    return Record.chat(row["question"], row["answer"], system=template["system"], task="medical_qa", id=row.get("id"),
                       qtype=row.get("qtype"), focus=row.get("focus"), source=f"MedQuAD {row.get('source', '')}".strip())


def _ddi(row: dict, template: dict) -> Record:
    text = template["user"].format(**{k: row[k] for k in ("drug1", "drug2", "smiles1", "smiles2")})
    meta = {k: row.get(k) for k in ("drug1", "drug2", "drugbank_id1", "drugbank_id2", "smiles1", "smiles2")}
    return Record.chat(text, row["label"], system=template["system"], task="ddi_binary", label=row["label"],
                       source=f"LLMDDI {row.get('source', '')}".strip(), **meta)


SHARED: dict[str, SharedSet] = {
    "medquad": SharedSet("medquad", "MedQuAD medical question answering (1,000 train / 200 test, CC BY 4.0)",
                         ("question", "answer"), ("datasets", "medical_qa"), _medquad),
    "ddi": SharedSet("ddi", "DDI study pairs: DrugBank, KEGG, HIV, French DB, OSCAR (1,000 train / 200 validation)",
                     ("drug1", "drug2", "smiles1", "smiles2", "label"), ("ddi", "binary"), _ddi),
}


def folder(name: str) -> Path:
    return settings.shared_data_dir() / SHARED[name].folder


def is_available(name: str) -> bool:
    return any(folder(name).glob("*.jsonl"))


def splits(name: str) -> list[str]:
    order = {"train": 0, "validation": 1, "test": 2}
    return sorted((p.stem for p in folder(name).glob("*.jsonl")), key=lambda s: (order.get(s, 9), s))


def records_file(name: str, split: str) -> Path:
    """The split as a records JSONL (converted once; converted again when the source file changes)."""
    from data.export import write

    source = folder(name) / f"{split}.jsonl"
    if not folder(name).is_dir():
        raise SharedDataMissing(f"shared:{name}: the folder {folder(name)} is not on this machine. Put the shared "
                                "data beside the project (../shared/data) or set PHARMATUNE_SHARED_DATA.")
    if not source.is_file():
        raise SharedDataMissing(f"shared:{name}: no split {split!r} in {folder(name)} "
                                f"(it has: {', '.join(splits(name)) or 'nothing'})")
    stat = source.stat()
    target = settings.data_dir() / "shared" / name / f"{split}.jsonl"
    stamp = target.with_suffix(".source.json")
    signature = {"source": str(source.resolve()), "size": stat.st_size, "mtime": stat.st_mtime}
    if target.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == signature:
        return target
    write(_convert(name, source), target, "records")
    stamp.write_text(json.dumps(signature))
    return target


def _convert(name: str, source: Path) -> list[Record]:
    spec = SHARED[name]
    template = prompts.load(spec.prompt[0])[spec.prompt[1]]
    records = []
    with open(source, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{source}, line {number}: bad JSON: {exc.msg}") from None
            missing = [f for f in spec.fields if not row.get(f)]
            if missing:
                raise DataError(f"{source}, line {number}: missing or empty field {missing[0]!r}")
            record = spec.to_record(row, template)
            record.meta.setdefault("id", f"{name}-{source.stem}-{number}")
            records.append(record)
    return records
