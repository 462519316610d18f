"""The server's monthly OpenAI budget (PHARMATUNE_OPENAI_BUDGET_USD): checked against this month's ledger and the
estimate before any paid call or job is made on the server's key, so a public link cannot run up the owner's
bill. A key a visitor typed is theirs: its calls are recorded (note: "the caller's own key") but count against
no server budget. No variable: no limit."""
from __future__ import annotations

import os
from datetime import datetime, timezone

from errors import UserError

OWN_KEY_NOTE = "paid with the caller's own key"


class BudgetError(UserError):
    """The call or job would pass the month's budget; the message names the month's spend and the budget."""


def monthly_budget() -> float | None:
    value = os.environ.get("PHARMATUNE_OPENAI_BUDGET_USD", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        raise BudgetError(f"PHARMATUNE_OPENAI_BUDGET_USD={value!r} is not a number of dollars; nothing is spent "
                          "until it is one (or unset).") from None


def month_spend(now: datetime | None = None) -> float:
    """Dollars spent on the server's key this calendar month (UTC), unrounded: actual costs, or the estimate of a
    job that has not been billed yet."""
    import store
    from sqlalchemy import select
    from store.tables import LedgerEntry

    now = now or datetime.now(timezone.utc)
    start = datetime(now.year, now.month, 1)
    with store.session() as s:
        entries = s.scalars(select(LedgerEntry).where(LedgerEntry.at >= start)).all()
    return sum((e.actual_usd if e.actual_usd is not None else (e.estimated_usd or 0.0)) for e in entries
               if not (e.note or "").startswith(OWN_KEY_NOTE))


def check(planned_usd: float | None = 0.0, *, own_key: bool = False, what: str = "this call") -> None:
    """Refuse (BudgetError) when the server's key would pass the month's budget with `planned_usd` more."""
    budget = monthly_budget()
    if own_key or budget is None:
        return
    spent = month_spend()
    planned = float(planned_usd or 0.0)
    if spent + planned > budget or (planned == 0.0 and spent >= budget):
        more = f", and {what} is estimated at ${planned:.2f}" if planned else ""
        raise BudgetError(f"The server's OpenAI budget is spent: ${spent:.2f} this month of "
                          f"${budget:.2f} (PHARMATUNE_OPENAI_BUDGET_USD){more}. Nothing was sent to OpenAI. Type "
                          "your own key to use it, or raise the budget.")
