"""OpenAI's fine-tuning wind-down, read from the price table: what a launch on a model faces today (a warning
before it, in plain words) and OpenAI's refusal of a job creation as one sentence that names the cutoff.

The dates live in prices.yaml (`wind_down` stages, each model's `fine_tuning_until` and `retires`). Which stage an
organisation is in cannot be read from the API, so between the first and the last stage a launch "may" be
refused; after the last stage, or the model's own cutoff, it "will" be. `today()` is the one clock (tests set it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

REFUSED_STATUS = "refused"  # the stored status of a job OpenAI refused to create


def today() -> date:
    return date.today()


@dataclass
class Outlook:
    """What a launch on `model` faces on `day`: `refused` when it certainly will be, and the warnings to show."""

    model: str
    day: date
    refused: bool = False
    warnings: list[str] = field(default_factory=list)
    dates: object = None  # pricing.ModelDates of the model, if the table has them

    @property
    def text(self) -> str:
        return " ".join(self.warnings)


def days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def _maybe(certain: bool) -> str:
    return "" if certain else " (a date not confirmed on OpenAI's page)"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" and {parts[-1]}"


def _stages_clause(wind, day: date) -> str:
    """"closed on 2026-05-07 for ... and on 2026-07-02 for ..., and close on 2027-01-06 for ...", as of `day`."""
    past = [f"on {s.date} for {s.who}{_maybe(s.certain)}" for s in wind.stages if s.date <= day]
    future = [f"on {s.date} for {s.who}{_maybe(s.certain)}" for s in wind.stages if s.date > day]
    return ", and ".join(([f"closed {_join(past)}"] if past else []) + ([f"close {_join(future)}"] if future else []))


def _cutoffs(name: str, dates, wind, day: date) -> list[tuple[bool, str, str]]:
    """The cutoffs that have passed for a job on `name` by `day`, the most telling first: (certain, the warning,
    the clause a refusal names)."""
    out = []
    if dates and dates.retires and dates.retires <= day:
        sure = dates.certain("retires")
        out.append((sure, f"OpenAI retired {name} on {dates.retires}{_maybe(sure)}: a job on it "
                          f"{'will' if sure else 'may'} be refused, and no fine-tune of it answers any more.",
                    f"OpenAI retired {name} on {dates.retires}, so no job can be created on it"))
    final = wind.final if wind else None
    until = dates.fine_tuning_until if dates else None
    if until and until <= day and not (final and until == final.date):
        sure = dates.certain("fine_tuning_until")
        out.append((sure, f"OpenAI stopped new fine-tuning jobs on {name} on {until}{_maybe(sure)}: this launch "
                          f"{'will' if sure else 'may'} be refused.",
                    f"OpenAI stopped new fine-tuning jobs on {name} on {until}"))
    if final and final.date <= day:
        out.append((final.certain, f"OpenAI closed new fine-tuning jobs for {final.who} on {final.date}: this "
                                   f"launch {'will' if final.certain else 'may'} be refused.",
                    f"OpenAI closed new fine-tuning jobs for {final.who} on {final.date}"))
    return sorted(out, key=lambda c: not c[0])  # a certain cutoff before an uncertain one (stable otherwise)


def outlook(model: str, day: date | None = None, table=None) -> Outlook:
    """The warnings before a launch on `model`: the model's own cutoff or retirement, the wind-down's last stage,
    an earlier stage the organisation may be in, and how long a model fine-tuned now would answer."""
    from openai_ft import pricing

    table = table or pricing.load()
    day = day or today()
    row = table.resolve(model)
    name = row.model if row else model
    dates = row.dates if row else None
    out = Outlook(name, day, dates=dates)
    wind = table.wind_down
    passed = _cutoffs(name, dates, wind, day)
    if passed:
        out.refused = passed[0][0]
        out.warnings.append(passed[0][1])
    elif wind and wind.passed(day):
        out.warnings.append(f"OpenAI may refuse this launch: new fine-tuning jobs {_stages_clause(wind, day)} "
                            f"({days(wind.days_left(day))} left). If your organisation is in a group already cut "
                            "off, the job will be refused.")
    elif wind:
        out.warnings.append(f"OpenAI is winding down fine-tuning: new jobs {_stages_clause(wind, day)}.")
    if dates and dates.retires and dates.retires > day:
        left = (dates.retires - day).days
        out.warnings.append(f"A model fine-tuned on {name} answers only until {name} retires on {dates.retires}"
                            f"{_maybe(dates.certain('retires'))}: {days(left)} from today.")
    if row is None:
        out.warnings.append(f"The price table has no dates for {model!r}; OpenAI's wind-down applies to it too.")
    return out


def _said(exc) -> str:
    """The first sentence of what OpenAI said (the refusal stays one sentence)."""
    body = getattr(exc, "body", None)
    said = (body.get("message") if isinstance(body, dict) else None) or getattr(exc, "message", None) or str(exc)
    return str(said).strip().split(". ")[0].rstrip(".")


def refusal(exc: Exception, model: str, day: date | None = None, table=None) -> str | None:
    """One sentence naming the cutoff when `exc` (from fine_tuning.jobs.create) is OpenAI refusing the job because
    of the wind-down, else None (the caller says what OpenAI said as usual). A 403 on creation is the wind-down's
    answer; a 400 or 404 is, once the table says the model's or everyone's cutoff has passed."""
    from openai_ft import pricing

    status = getattr(exc, "status_code", None)
    if status not in (400, 403, 404):
        return None
    table = table or pricing.load()
    day = day or today()
    ahead = outlook(model, day, table)
    wind = table.wind_down
    if status != 403 and not ahead.refused:
        return None
    passed = _cutoffs(ahead.model, ahead.dates, wind, day)
    if passed:
        cutoff = passed[0][2]
    elif wind and wind.passed(day):
        cutoff = f"new fine-tuning jobs {_stages_clause(wind, day)}, so your organisation is in a group already cut off"
    elif wind:
        cutoff = f"OpenAI is winding down self-serve fine-tuning (new jobs {_stages_clause(wind, day)})"
    else:
        cutoff = "OpenAI is winding down self-serve fine-tuning"
    return (f"OpenAI refused to create the fine-tuning job on {ahead.model} ({status}: {_said(exc)}): {cutoff}; nothing was "
            "billed, and Train locally instead (OpenAI tab) rebuilds the model here from the same file.")
