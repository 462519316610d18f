"""Containers: JSONL, a JSON array, CSV, Parquet, a Hugging Face dataset. Each yields (location, row, issues).

Rows stream, so a 100,000-line file never sits in memory twice. Byte-level problems (a BOM, bytes that are
not UTF-8, bad JSON) are found here, with the line number; field-level ones in data.validation.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from data.io import BOM
from data.records import DataError, Issue

Row = tuple[str, "dict | None", list[Issue]]


def kind_of(path: Path) -> str:
    if path.is_dir():
        return "hf"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".json":
        return "json"
    return "jsonl"


def iter_rows(path: str | Path, split: str | None = None) -> Iterator[Row]:
    path = Path(path)
    if not path.exists() and not _looks_like_hub_id(str(path)):
        raise DataError(f"{path}: no such file or folder")
    if not path.exists():
        return iter_hf(str(path), split)
    return READERS[kind_of(path)](path, split)


def iter_jsonl(path: Path, split=None) -> Iterator[Row]:
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            where, issues = f"line {number}", []
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
                issues.append(Issue(where, "", "starts with a UTF-8 byte-order mark (BOM); it was ignored here, "
                                    "but some tools (OpenAI upload) reject it: save as UTF-8 without BOM",
                                    "bom", "warning"))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield where, None, issues + [Issue(where, "", f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at "
                                                   f"column {exc.start + 1}; save the file as UTF-8", "encoding")]
                continue
            if not text.strip():
                if issues:
                    yield where, None, issues
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield where, None, issues + [Issue(where, "", f"bad JSON: {exc.msg} at column {exc.colno}",
                                                   "bad_json")]
                continue
            if not isinstance(obj, dict):
                yield where, None, issues + [Issue(where, "", f"expected a JSON object, got {type(obj).__name__}",
                                                   "wrong_type")]
                continue
            yield where, obj, issues


def iter_json_array(path: Path, split=None) -> Iterator[Row]:
    raw = path.read_bytes()
    issues = []
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
        issues.append(Issue("line 1", "", "starts with a UTF-8 byte-order mark (BOM); it was ignored", "bom",
                            "warning"))
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        yield f"line {line}", None, issues + [Issue(f"line {line}", "", f"not valid UTF-8: byte 0x{raw[exc.start]:02x}",
                                                    "encoding")]
        return
    except json.JSONDecodeError as exc:
        yield f"line {exc.lineno}", None, issues + [Issue(f"line {exc.lineno}", "",
                                                          f"bad JSON: {exc.msg} at column {exc.colno}", "bad_json")]
        return
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        yield "line 1", None, issues + [Issue("line 1", "", "a .json file must hold a list of examples (or use "
                                              ".jsonl, one example per line)", "wrong_type")]
        return
    for number, obj in enumerate(data, 1):
        where = f"item {number}"
        if not isinstance(obj, dict):
            yield where, None, issues + [Issue(where, "", f"expected an object, got {type(obj).__name__}",
                                               "wrong_type")]
        else:
            yield where, obj, issues
        issues = []


def iter_csv(path: Path, split=None) -> Iterator[Row]:
    import csv

    with open(path, "rb") as fh:
        has_bom = fh.read(3) == BOM
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # surrogateescape keeps going past bytes that are not UTF-8, so the bad row can be named instead of failing.
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        first = True
        for row in reader:
            where = f"line {reader.line_num}"
            issues = []
            if first and has_bom:
                issues.append(Issue("line 1", "", "starts with a UTF-8 byte-order mark (BOM); it was ignored",
                                    "bom", "warning"))
            first = False
            if None in row:
                yield where, None, issues + [Issue(where, "", f"{len(row[None])} more cell(s) than header columns",
                                                   "bad_row")]
                continue
            bad = next((k for k, v in row.items() if isinstance(v, str) and _has_surrogates(v)), None)
            if bad is not None:
                yield where, None, issues + [Issue(where, bad, "not valid UTF-8; save the file as UTF-8",
                                                   "encoding")]
                continue
            yield where, row, issues


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def iter_parquet(path: Path, split=None) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path.name}: not a readable Parquet file ({exc})") from None
    number = 0
    for batch in table.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            number += 1
            yield f"row {number}", row, []


def iter_hf(source: str | Path, split: str | None) -> Iterator[Row]:
    """A folder saved with save_to_disk, a folder of data files, or a hub id (online only)."""
    try:
        import datasets
    except ImportError:
        raise DataError("Reading Hugging Face datasets needs the datasets package: pip install datasets") from None
    path = Path(source)
    try:
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            loaded = datasets.load_from_disk(str(path))
        else:
            loaded = datasets.load_dataset(str(source))
    except Exception as exc:
        raise DataError(f"{source}: cannot load it as a Hugging Face dataset ({type(exc).__name__}: {exc}). "
                        "Offline, only local folders work.") from None
    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        chosen = split or ("train" if "train" in names else names[0])
        if chosen not in loaded:
            raise DataError(f"{source}: no split {chosen!r}; it has {', '.join(names)}")
        loaded = loaded[chosen]
    for number, row in enumerate(loaded, 1):
        yield f"row {number}", row, []


def _looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.endswith((".jsonl", ".json", ".csv", ".parquet"))


READERS = {"jsonl": iter_jsonl, "json": iter_json_array, "csv": iter_csv, "parquet": iter_parquet, "hf": iter_hf}
