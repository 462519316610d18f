"""The cost ledger in the store: one row per fine-tuning job (estimated, then actual cost) and one per billed
inference call (tokens from the response's `usage`), with totals by model and by month and a CSV export."""
from __future__ import annotations

import csv
import logging
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)
COLUMNS = ["date", "kind", "model", "source", "prompt tokens", "completion tokens", "trained tokens",
           "estimated $", "actual $", "difference $", "note"]


def _table():
    from openai_ft import pricing

    return pricing.load()


def record_job(token: str, model: str, estimated_usd: float | None, estimated_tokens: int | None,
               note: str = "") -> None:
    """The job's line, written when it is launched (estimate only); `settle_job` adds the actual cost."""
    import store
    from sqlalchemy import select
    from store.tables import LedgerEntry

    with store.session() as s:
        row = s.scalars(select(LedgerEntry).where(LedgerEntry.job_token == token)).first()
        if row is None:
            s.add(LedgerEntry(kind="fine-tune", source=f"job {token}", model=model, job_token=token,
                              estimated_usd=estimated_usd, trained_tokens=None, note=note or
                              (f"estimate for {estimated_tokens:,} trained tokens" if estimated_tokens else "")))


def settle_job(token: str, model: str, trained_tokens: int, job_id: str) -> float | None:
    """The actual cost from OpenAI's trained_tokens and the price table; returns it."""
    import store
    from sqlalchemy import select
    from store.tables import LedgerEntry

    from openai_ft.budget import OWN_KEY_NOTE

    actual = _table().training_cost(model, trained_tokens)
    with store.session() as s:
        row = s.scalars(select(LedgerEntry).where(LedgerEntry.job_token == token)).first()
        if row is None:
            row = LedgerEntry(kind="fine-tune", source=f"job {token}", model=model, job_token=token)
            s.add(row)
        row.trained_tokens, row.actual_usd = trained_tokens, actual
        row.source = job_id
        billed = f"{trained_tokens:,} trained tokens billed by OpenAI"
        row.note = f"{OWN_KEY_NOTE}; {billed}" if (row.note or "").startswith(OWN_KEY_NOTE) else billed
    return actual


def void_job(token: str, note: str) -> None:
    """A job OpenAI never created (refused): its line costs $0, so no budget or total counts its estimate."""
    import store
    from sqlalchemy import select
    from store.tables import LedgerEntry

    with store.session() as s:
        row = s.scalars(select(LedgerEntry).where(LedgerEntry.job_token == token)).first()
        if row is not None:
            row.actual_usd, row.trained_tokens, row.note = 0.0, 0, note


def record_inference(model: str, prompt_tokens: int, completion_tokens: int, source: str,
                     own_key: bool = False) -> float | None:
    """Billed tokens of one OpenAI call; never raises (spend tracking must not break a chat)."""
    try:
        import store
        from store.tables import LedgerEntry

        cost = _table().inference_cost(model, prompt_tokens, completion_tokens)
        with store.session() as s:
            s.add(LedgerEntry(kind="inference", source=source, model=f"openai:{model.removeprefix('openai:')}",
                              prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, actual_usd=cost,
                              note=_inference_note(cost, own_key)))
        return cost
    except Exception as exc:  # noqa: BLE001 - logged without any request data, the answer still shows
        log.warning("could not record OpenAI usage for %s in the ledger: %s", model, type(exc).__name__)
        return None


def _inference_note(cost, own_key: bool) -> str:
    from openai_ft.budget import OWN_KEY_NOTE

    if own_key:
        return OWN_KEY_NOTE
    return "" if cost is not None else "no price for this model in the price table"


def rows(limit: int | None = None) -> list[dict]:
    """Newest first, as the tab and the CSV show them."""
    import store
    from sqlalchemy import select
    from store.tables import LedgerEntry

    with store.session() as s:
        query = select(LedgerEntry).order_by(LedgerEntry.at.desc(), LedgerEntry.id.desc())
        entries = s.scalars(query.limit(limit) if limit else query).all()
    out = []
    for e in entries:
        diff = None if e.actual_usd is None or e.estimated_usd is None else e.actual_usd - e.estimated_usd
        out.append({"date": e.at.strftime("%Y-%m-%d %H:%M"), "kind": e.kind, "model": e.model, "source": e.source,
                    "prompt tokens": e.prompt_tokens, "completion tokens": e.completion_tokens,
                    "trained tokens": e.trained_tokens, "estimated $": _round(e.estimated_usd),
                    "actual $": _round(e.actual_usd), "difference $": _round(diff), "note": e.note})
    return out


def _round(value):
    return None if value is None else round(value, 4)


def _spent(row: dict) -> float:
    """What a row counts in totals: the actual cost, else the estimate of a job still running."""
    return row["actual $"] if row["actual $"] is not None else (row["estimated $"] or 0.0)


def totals(by: str) -> list[dict]:
    """Spend grouped by "model" or "month": actual dollars, estimates still open, and the call count."""
    groups: dict[str, dict] = {}
    for row in rows():
        key = row["model"] if by == "model" else row["date"][:7]
        g = groups.setdefault(key, {by: key, "rows": 0, "actual $": 0.0, "estimated, not yet billed $": 0.0})
        g["rows"] += 1
        if row["actual $"] is not None:
            g["actual $"] += row["actual $"]
        elif row["estimated $"] is not None:
            g["estimated, not yet billed $"] += row["estimated $"]
    out = sorted(groups.values(), key=lambda g: g[by], reverse=by == "month")
    for g in out:
        g["actual $"], g["estimated, not yet billed $"] = round(g["actual $"], 4), round(g["estimated, not yet billed $"], 4)
    return out


def spend_over_time() -> list[dict]:
    """Cumulative spend per day (actual, or the estimate while a job runs), for the ledger plot."""
    per_day: dict[str, float] = {}
    for row in rows():
        per_day[row["date"][:10]] = per_day.get(row["date"][:10], 0.0) + _spent(row)
    total, out = 0.0, []
    for day in sorted(per_day):
        total += per_day[day]
        out.append({"date": day, "spend $": round(per_day[day], 4), "cumulative $": round(total, 4)})
    return out


def export_csv(path: str | Path | None = None) -> Path:
    import settings
    from data.io import atomic_write

    path = Path(path) if path else settings.data_dir() / "exports" / f"openai-ledger-{datetime.now():%Y%m%d-%H%M%S}.csv"
    with atomic_write(path) as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows())
    return path


def measured_rate(model: str) -> tuple[float, str] | None:
    """Trained tokens per second of this store's finished jobs on `model` (queue time included), if any."""
    try:
        import store
        from sqlalchemy import select
        from store.tables import OpenAIJob

        with store.session() as s:
            jobs = s.scalars(select(OpenAIJob).where(OpenAIJob.status == "succeeded")).all()
        from openai_ft import pricing

        table = pricing.load()
        target = table.resolve(model)
        done = [j for j in jobs if j.trained_tokens and j.started and j.finished and j.finished > j.started
                and table.resolve(j.model) == target]
    except Exception:  # noqa: BLE001 - a missing or old store just means "no measurement"
        return None
    if not done:
        return None
    tokens = sum(j.trained_tokens for j in done)
    seconds = sum((j.finished - j.started).total_seconds() for j in done)
    return tokens / seconds, f"{len(done)} finished job(s) on this model in the store"
