"""Records -> a file in any format, written atomically. The extension picks the container (.jsonl, .csv, .parquet)."""
from __future__ import annotations

import json
from pathlib import Path

from data import formats
from data.io import atomic_write
from data.records import DataError, Record

EXPORT_FORMATS = ["records", "openai", "alpaca", "sharegpt", "prompt_completion", "csv", "parquet"]


def write(records: list[Record], path: str | Path, fmt: str = "records") -> Path:
    """Write every record or nothing: a record the format cannot hold raises DataError naming it."""
    path = Path(path)
    if fmt in ("csv", "parquet") or path.suffix.lower() in (".csv", ".parquet"):
        return _write_table(records, path, "parquet" if fmt == "parquet" or path.suffix.lower() == ".parquet" else "csv")
    dump = formats.get(fmt).dump
    with atomic_write(path) as fh:
        for number, record in enumerate(records, 1):
            try:
                row = dump(record)
            except DataError as exc:
                raise DataError(f"record {number}: {exc}") from None
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _write_table(records: list[Record], path: Path, kind: str) -> Path:
    rows = []
    for number, record in enumerate(records, 1):
        try:
            rows.append(formats.dump_table_row(record))
        except DataError as exc:
            raise DataError(f"record {number}: {exc}") from None
    columns = list(dict.fromkeys(k for row in rows for k in row))
    if kind == "csv":
        import csv

        with atomic_write(path) as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
        with atomic_write(path, "wb") as fh:
            pq.write_table(table, fh)
    return path


PREFERENCE_EXPORT_FORMATS = ["preference", "openai_preference", "kto"]


def write_preferences(records: list, path: str | Path, fmt: str = "preference") -> Path:
    """Preference examples -> JSONL in one of formats.PREFERENCE_FORMATS, all or nothing; writing pairs as kto
    unpairs them (each pair: its chosen answer desirable, its rejected one not)."""
    path = Path(path)
    dump = formats.get_preference(fmt).dump
    with atomic_write(path) as fh:
        for number, record in enumerate(records, 1):
            for one in (record.unpair() if fmt == "kto" else [record]):
                try:
                    row = dump(one)
                except DataError as exc:
                    raise DataError(f"record {number}: {exc}") from None
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
