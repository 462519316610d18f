"""openFDA drug labels -> label question/answer records (indications, mechanism, adverse reactions, warnings, dosage).

Input is the download format of https://api.fda.gov/drug/label.json and of the bulk files
({"meta": ..., "results": [label, ...]}); a bulk .json.zip is read as is. Each label section is a list of strings.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import prompts
from data.records import DataError, Record

DESCRIPTION = "openFDA drug label JSON (api.fda.gov/drug/label.json or a bulk file) -> label Q&A records"
SOURCE = "openFDA drug label"
# Label sections run to tens of thousands of characters; an answer keeps the opening, cut at a sentence end.
MAX_ANSWER_CHARS = 2000

# task -> (label field, the heading that opens it in PLR labels, older labels and OTC "Drug Facts").
SECTIONS = {
    "label_indications": ("indications_and_usage", r"indications?\s*(?:and|&)\s*usage|uses?"),
    "label_mechanism": ("mechanism_of_action", r"mechanism\s+of\s+action"),
    "label_adverse_reactions": ("adverse_reactions", r"adverse\s+reactions"),
    "label_warnings": (None, r"warnings?(?:\s+and\s+precautions)?"),  # see _warnings_text
    "label_dosage": ("dosage_and_administration", r"dosage\s*(?:and|&)\s*administration|directions"),
}


def build(path: str | Path) -> list[Record]:
    """One record per (label, section present), in file order; labels with no drug name are skipped."""
    path = Path(path)
    templates = prompts.load("instruction_builders")
    records = []
    for i, label in enumerate(_load_results(path)):
        where = f"{path}, results[{i}]"
        if not isinstance(label, dict):
            raise DataError(f"{where}: expected a label object, found {type(label).__name__}")
        drug = _drug_name(label, where)
        if drug is None:
            continue
        base_id = label.get("set_id") or label.get("id")
        for task, (field, heading) in SECTIONS.items():
            if task == "label_warnings":
                text = _warnings_text(label, where, templates[task]["boxed"])
            else:
                text = _section_text(label, field, heading, where)
            if not text:
                continue
            prompt = templates[task]["prompt"].format(drug=drug)
            records.append(Record.chat(prompt, text, task=task, id=f"{base_id}:{task}" if base_id else None,
                                       source=SOURCE, drug=drug))
    return records


def clean_section(text: str, heading: str) -> str:
    """Drop the section's own heading ("1 INDICATIONS AND USAGE", "Uses"), collapse whitespace, cap the length."""
    text = " ".join(text.split())
    text = re.sub(rf"^(?:\d+(?:\.\d+)*\s+)?(?:{heading})\b\s*[:.\-]?\s*", "", text, count=1, flags=re.IGNORECASE)
    return truncate(text[:1].upper() + text[1:])  # OTC "Uses temporarily relieves ..." -> "Temporarily relieves ..."


def truncate(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    """Cut at the last sentence end within the limit; without one in the second half, at a word, with an ellipsis."""
    if len(text) <= limit:
        return text
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", text[: limit + 1])]
    if ends and ends[-1] >= limit // 2:
        return text[: ends[-1]]
    return text[: limit - 2].rsplit(" ", 1)[0] + " …"


def _load_results(path: Path) -> list:
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.lower().endswith(".json")]
                if len(names) != 1:
                    raise DataError(f"{path}: expected one .json file in the archive, found {len(names)}")
                raw = archive.read(names[0]).decode("utf-8")
        else:
            raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: cannot be read ({e})") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise DataError(f"{path}: expected an openFDA label export, an object with a 'results' list")
    return data["results"]


def _strings(value, where: str, field: str) -> list[str]:
    """openFDA stores every field as a list of strings; a lone string is accepted too."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise DataError(f"{where}, {field}: expected a list of strings, found {json.dumps(value)[:80]}")


def _drug_name(label: dict, where: str) -> str | None:
    """generic_name[0], else brand_name[0], else substance_name[0]; generic names are upper case in openFDA."""
    openfda = label.get("openfda") or {}
    if not isinstance(openfda, dict):
        raise DataError(f"{where}, openfda: expected an object")
    for key in ("generic_name", "brand_name", "substance_name"):
        names = [n.strip() for n in _strings(openfda.get(key), where, f"openfda.{key}") if n.strip()]
        if names:
            return names[0] if key == "brand_name" else names[0].lower()
    return None


def _section_text(label: dict, field: str, heading: str, where: str) -> str:
    return clean_section(" ".join(_strings(label.get(field), where, field)), heading)


def _warnings_text(label: dict, where: str, boxed_template: str) -> str:
    """The boxed warning first (it is the most important), then Warnings and Precautions or the older Warnings."""
    parts = []
    boxed = " ".join(_strings(label.get("boxed_warning"), where, "boxed_warning"))
    boxed = " ".join(boxed.split())
    boxed = re.sub(r"^boxed\s+warning\b\s*[:.\-]?\s*", "", boxed, flags=re.IGNORECASE)  # keep "WARNING: ..."
    if boxed:
        parts.append(boxed_template.format(text=boxed))
    heading = SECTIONS["label_warnings"][1]
    for field in ("warnings_and_cautions", "warnings"):
        text = _section_text(label, field, heading, where)
        if text:
            parts.append(text)
            break
    return truncate(" ".join(parts))
