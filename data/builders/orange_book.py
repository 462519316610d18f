"""FDA Orange Book products.txt -> application type, approval date and marketing status records per product.

products.txt is the tilde-separated file in the Orange Book data download (fda.gov, "Orange Book Data Files").
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import prompts
from data.records import DataError, Record

DESCRIPTION = "FDA Orange Book products.txt (tilde-separated) -> application, approval and marketing status records"
SOURCE = "FDA Orange Book"
COLUMNS = ["Ingredient", "DF;Route", "Trade_Name", "Applicant", "Strength", "Appl_Type", "Appl_No", "Product_No",
           "TE_Code", "Approval_Date", "RLD", "RS", "Type", "Applicant_Full_Name"]
REQUIRED = ["Ingredient", "Trade_Name", "Appl_Type", "Appl_No", "Product_No", "Type"]
BEFORE_1982 = "Approved Prior to Jan 1, 1982"
APPL_TYPES = {"N": "NDA", "A": "ANDA"}


def build(path: str | Path) -> list[Record]:
    """Three records per product (application, approval, marketing status); first row of each (Appl_No, Product_No)."""
    path = Path(path)
    lines = _read_lines(path)
    header = [name.strip() for name in lines[0].split("~")] if lines else []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}, line 1: not an Orange Book products.txt header; missing column(s) "
                        f"{', '.join(missing)}")
    templates = prompts.load("instruction_builders")
    records, seen = [], set()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        values = line.split("~")
        if len(values) != len(header):
            raise DataError(f"{path}, line {number}: expected {len(header)} fields separated by '~', "
                            f"found {len(values)}")
        row = {name: value.strip() for name, value in zip(header, values)}
        for name in REQUIRED:
            if not row[name]:
                raise DataError(f"{path}, line {number}, {name}: empty")
        key = (row["Appl_No"], row["Product_No"])
        if key in seen:
            continue
        seen.add(key)
        records.extend(_product_records(row, templates, f"{path}, line {number}"))
    return records


def _product_records(row: dict, templates: dict, where: str) -> list[Record]:
    appl_type = row["Appl_Type"]
    if appl_type not in APPL_TYPES:
        raise DataError(f"{where}, Appl_Type: {appl_type!r} is neither N (NDA) nor A (ANDA)")
    status = templates["orange_book_marketing_status"]["statuses"].get(row["Type"])
    if status is None:
        raise DataError(f"{where}, Type: {row['Type']!r} is not RX, OTC or DISCN")
    form, _, route = row["DF;Route"].partition(";")
    product = f"{row['Trade_Name']} ({row['Ingredient'].lower()} {row['Strength']}, {form.lower()}"
    product += f", {route.lower()})" if route else ")"
    values = {
        "product": product, "trade_name": row["Trade_Name"], "strength": row["Strength"],
        "product_no": row["Product_No"], "appl_no": row["Appl_No"],
        "appl_type_long": templates["orange_book_application"]["appl_types"][appl_type],
        "applicant": row["Applicant_Full_Name"] or row["Applicant"], "status": status,
    }
    meta = {"id": f"{appl_type}{row['Appl_No']}-{row['Product_No']}", "source": SOURCE,
            "drug": row["Ingredient"].lower()}

    def record(task: str, answer_key: str = "answer", **label) -> Record:
        t = templates[task]
        return Record.chat(t["prompt"].format(**values), t[answer_key].format(**values), task=task, **meta, **label)

    out = [record("orange_book_application", label=APPL_TYPES[appl_type])]
    date = row["Approval_Date"]
    if date == BEFORE_1982:
        out.append(record("orange_book_approval", "answer_before_1982"))
    elif date:  # an empty date gives no approval record rather than a guess
        try:
            day = datetime.strptime(date, "%b %d, %Y")
            values["date"] = f"{day:%B} {day.day}, {day.year}"
        except ValueError:
            raise DataError(f"{where}, Approval_Date: {date!r} is not a date like 'Jan 5, 2017'") from None
        out.append(record("orange_book_approval"))
    out.append(record("orange_book_marketing_status", label=row["Type"]))
    return out


def _read_lines(path: Path) -> list[str]:
    """The file's lines; FDA files are ASCII in practice, Latin-1 is the fallback for stray bytes."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.splitlines()
