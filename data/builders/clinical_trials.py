"""ClinicalTrials.gov API v2 studies -> trial status and why-stopped records.

Accepts what the API v2 returns as JSON: one study (/api/v2/studies/NCT...), a page (/api/v2/studies:
{"studies": [...], "nextPageToken": ...}) or a plain list of studies.
"""
from __future__ import annotations

import json
from pathlib import Path

import prompts
from data.records import DataError, Record

DESCRIPTION = "ClinicalTrials.gov API v2 study JSON (one study, a list or a /studies page) -> trial status records"
SOURCE = "ClinicalTrials.gov"
# overallStatus enum -> the wording ClinicalTrials.gov shows on a study page.
STATUSES = {
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "COMPLETED": "Completed",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "RECRUITING": "Recruiting",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "WITHDRAWN": "Withdrawn",
    "AVAILABLE": "Available",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
    "UNKNOWN": "Unknown status",
}


def build(path: str | Path) -> list[Record]:
    """A trial_status record per study, plus trial_why_stopped where the study gives whyStopped; file order."""
    path = Path(path)
    templates = prompts.load("instruction_builders")
    records = []
    for entry, study in _studies(path):
        where = f"{path}, {entry}"
        if not isinstance(study, dict):
            raise DataError(f"{where}: expected a study object, found {type(study).__name__}")
        nct_id = _text(study, "protocolSection.identificationModule.nctId", where, required=True)
        status_code = _text(study, "protocolSection.statusModule.overallStatus", where, required=True)
        title = (_text(study, "protocolSection.identificationModule.briefTitle", where)
                 or _text(study, "protocolSection.identificationModule.officialTitle", where))
        why_stopped = _text(study, "protocolSection.statusModule.whyStopped", where)
        interventions = [i.get("name") for i in _list(study, "protocolSection.armsInterventionsModule.interventions",
                                                      where) if isinstance(i, dict) and i.get("name")]
        conditions = [c for c in _list(study, "protocolSection.conditionsModule.conditions", where)
                      if isinstance(c, str)]
        status = STATUSES.get(status_code, status_code.replace("_", " ").capitalize())
        values = {"trial": f'{nct_id} ("{title}")' if title else nct_id, "status": status,
                  "why_stopped": why_stopped}
        meta = {"id": nct_id, "source": SOURCE, "interventions": interventions or None,
                "conditions": conditions or None}
        t = templates["trial_status"]
        records.append(Record.chat(t["prompt"].format(**values), t["answer"].format(**values),
                                   task="trial_status", label=status_code, **meta))
        if why_stopped:
            t = templates["trial_why_stopped"]
            records.append(Record.chat(t["prompt"].format(**values), t["answer"].format(**values),
                                       task="trial_why_stopped", **meta))
    return records


def _studies(path: Path) -> list[tuple[str, object]]:
    """(entry name for messages, study) in file order, whichever of the three shapes the file has."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if isinstance(data, list):
        return [(f"[{i}]", s) for i, s in enumerate(data)]
    if isinstance(data, dict) and isinstance(data.get("studies"), list):
        return [(f"studies[{i}]", s) for i, s in enumerate(data["studies"])]
    if isinstance(data, dict) and "protocolSection" in data:
        return [("study", data)]
    raise DataError(f"{path}: expected ClinicalTrials.gov API v2 JSON: a study, a list of studies "
                    "or a page with a 'studies' list")


def _get(study: dict, dotted: str, where: str):
    value = study
    for key in dotted.split("."):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise DataError(f"{where}, {dotted}: expected an object at {key!r}")
        value = value.get(key)
    return value


def _text(study: dict, dotted: str, where: str, required: bool = False) -> str | None:
    value = _get(study, dotted, where)
    if value is not None and not isinstance(value, str):
        raise DataError(f"{where}, {dotted}: expected a string, found {json.dumps(value)[:80]}")
    value = " ".join(value.split()) if value else None
    if required and not value:
        raise DataError(f"{where}, {dotted}: missing")
    return value


def _list(study: dict, dotted: str, where: str) -> list:
    value = _get(study, dotted, where)
    if value is not None and not isinstance(value, list):
        raise DataError(f"{where}, {dotted}: expected a list")
    return value or []
