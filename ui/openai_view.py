"""The OpenAI tab's logic, with no Gradio in it (ui.openai_tab lays it out and re-exports these names, so tests
drive them directly): the source and its check and estimate, launching and following jobs, the cost ledger, the
fine-tuning wind-down's dates, and the local LoRA run matched to an estimated job ("Train locally instead").
The key is passed to each call; it is never written anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import errors
from ui import strings
from ui.job_tab import InputProblem


class TabError(InputProblem):
    """Something the user can fix; shown as it is."""


def readable(exc: Exception) -> str:
    """The UI's one sentence for an error; a number that does not parse (ValueError) is also the user's to fix."""
    return str(exc) if isinstance(exc, ValueError) else errors.readable(exc)


def key_status(key: str | None) -> str:
    import os

    if (key or "").strip():
        return strings.OPENAI_KEY_TYPED
    return strings.OPENAI_KEY_FROM_ENV if os.environ.get("OPENAI_API_KEY", "").strip() else strings.OPENAI_KEY_NONE


def model_choices() -> list[str]:
    from openai_ft import pricing

    table = pricing.load()
    return list(table.models) + [a for a in table.aliases if a not in table.models]


def prepare_source(upload: str | None, ref: str | None, split: str | None) -> Path:
    """An uploaded file is checked as it is (that is what OpenAI gets); a data set reference is exported to
    OpenAI chat JSONL first (shared:ddi keeps the study's prompt format)."""
    import settings
    from data import catalog
    from data.export import write
    from data.paths import confine_ref
    from ui.data_tab import save_upload

    if upload:
        return save_upload(upload)
    ref = (ref or "").strip()
    if not ref:
        raise TabError(strings.OPENAI_NO_SOURCE)
    split = (split or "train").strip() or "train"
    ref = confine_ref(ref, "Data set")
    name = Path(catalog.parse(ref)[1]).stem.replace(":", "-") or "data"
    return write(catalog.load(ref, split), settings.data_dir() / "openai" / f"{name}-{split}.jsonl", "openai")


def estimate_view(path: Path, model: str, epochs) -> tuple[str, list[list], dict]:
    """(markdown summary, findings rows, JSON summary) of one file for one model."""
    from openai_ft.estimate import estimate

    if not (model or "").strip():
        raise TabError(strings.OPENAI_NO_MODEL)
    est = estimate(path, model.strip(), epochs)
    s = est.summary()
    c = est.checks
    if c.errors:
        head = strings.OPENAI_HAS_ERRORS.format(errors=c.errors)
    else:
        head = strings.OPENAI_CHECK_OK.format(warnings=f", {c.warnings} warning(s) to look at" if c.warnings else "")
    price = (f"${s['price_per_1m_training_tokens']:g} per 1M training tokens ({s['price_status']}, prices as of "
             f"{s['prices_as_of']})" if s["price_per_1m_training_tokens"] is not None else "no price for this model")
    lines = [head, "",
             f"**{s['examples']:,} examples · {s['billed_tokens_per_epoch']:,} billed tokens per epoch** "
             f"({s['encoding']}, exact; per example min {s['tokens_per_example'].get('min', 0)}, mean "
             f"{s['tokens_per_example'].get('mean', 0)}, max {s['tokens_per_example'].get('max', 0)}) · {price}", "",
             "| epochs | trained tokens | cost |", "|---:|---:|---:|"]
    for e, cost in s["cost_by_epochs_usd"].items():
        mark = f" ← {s['epochs_rule']}" if int(e) == s["epochs"] else ""
        lines.append(f"| {e}{mark} | {est.tokens_per_epoch * int(e):,} | "
                     f"{'—' if cost is None else f'${cost:,.2f}'} |")
    if s["estimated_seconds"] is not None:
        lines += ["", f"Time: about {_duration(s['estimated_seconds'])} for {s['epochs']} epochs "
                      f"(rate from {s['time_source']}; queueing at OpenAI varies)."]
    else:
        lines += ["", f"Time: {s['time_source']}."]
    lines += ["", f"_Rule: {s['counting_rule']}. Checked and counted in {est.elapsed_s:.2f} s._"]
    rows = [[f.line if f.line is not None else "file", f.field, f.severity, f.message] for f in c.findings]
    return "\n".join(lines), rows, s


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{max(minutes, 1)} min"


def launch(path: str | None, summary: dict | None, validation_upload: str | None, model: str, suffix: str, epochs,
           batch_size, lr_multiplier, key: str | None) -> str:
    from openai_ft import jobs
    from ui.data_tab import save_upload

    if not path or not summary:
        raise TabError(strings.OPENAI_ESTIMATE_FIRST)
    if summary.get("errors"):
        raise TabError(strings.OPENAI_HAS_ERRORS.format(errors=summary["errors"]))
    validation = str(save_upload(validation_upload)) if validation_upload else None
    job = jobs.launch(path, model.strip(), api_key=key or None, validation_path=validation, suffix=(suffix or "").strip(),
                      epochs=epochs, batch_size=_number(batch_size, int, "Batch size (batch_size)"),
                      lr_multiplier=_number(lr_multiplier, float, "Learning-rate multiplier (learning_rate_multiplier)"))
    return strings.OPENAI_LAUNCHED.format(job_id=job.job_id, status=job.status, model=job.model)


def _number(value, kind, label):
    text = str(value if value is not None else "").strip().lower()
    if text in ("", "auto"):
        return None
    try:
        number = kind(float(text)) if kind is int and float(text).is_integer() else kind(text)
    except ValueError:
        number = None
    if number is None or number <= 0:
        raise TabError(f"{label} must be auto or a positive {'whole ' if kind is int else ''}number (got {value!r}).")
    return number


def refresh_jobs(key: str | None) -> tuple[list[list], str]:
    """Ask OpenAI about every job still running (when a key is at hand), then the table; problems as text."""
    from openai_ft import client, jobs

    problems = []
    active = jobs.active_jobs()
    if active:
        try:
            api = client.make(key or None)
        except client.OpenAIError:
            api = None  # no key: show what the store knows
        for job in active if api else []:
            try:
                jobs.sync(job.token, client=api)
            except Exception as exc:  # noqa: BLE001 - one failing job must not hide the others
                problems.append(strings.OPENAI_SYNC_FAILED.format(job=job.job_id, error=readable(exc)))
    return jobs_rows(), "\n".join(problems)


def _unless_store_fails(read, empty):
    """What the page shows at start-up when the store cannot be read (app.py has said why): empty tables."""
    from store.urls import StoreError

    try:
        return read()
    except StoreError:
        return empty


def jobs_rows() -> list[list]:
    from openai_ft import jobs

    return [[j.job_id or j.token, j.model, j.status, j.fine_tuned_model or "",
             None if j.estimated_usd is None else round(j.estimated_usd, 2),
             None if j.actual_usd is None else round(j.actual_usd, 2), j.trained_tokens,
             j.created.strftime("%Y-%m-%d %H:%M")] for j in jobs.list_jobs()]


def job_view(ref: str | None):
    """(status markdown, metric points, events rows) of one stored job."""
    import pandas as pd

    from openai_ft import jobs

    empty = pd.DataFrame({"step": [], "value": [], "series": []})
    if not ref:
        return strings.OPENAI_NO_JOB, empty, []
    job = jobs.find(ref)
    parts = [f"**{job.job_id or job.token}** · {job.model} · status **{job.status}**"]
    if job.fine_tuned_model:
        parts.append(f"fine-tuned model `openai:{job.fine_tuned_model}` (in the Chat and Evaluate model lists)")
    if job.estimated_usd is not None:
        parts.append(f"estimated ${job.estimated_usd:,.2f}")
    if job.actual_usd is not None:
        parts.append(f"actual ${job.actual_usd:,.2f} for {job.trained_tokens:,} trained tokens "
                     f"(difference ${job.actual_usd - (job.estimated_usd or 0):+,.2f})")
    if job.error:
        parts.append(f"⚠️ {job.error}")
    points = jobs.metric_points(job)
    frame = pd.DataFrame(points) if points else empty
    from datetime import datetime

    events = [[datetime.fromtimestamp(e["created_at"]).strftime("%H:%M:%S"), e.get("level"), e.get("message")]
              for e in reversed(job.events)]
    return " · ".join(parts), frame, events


def ledger_view():
    """(totals by model, totals by month, spend over time, the rows) as DataFrames."""
    import pandas as pd

    from openai_ft import ledger

    rows = ledger.rows(500)
    spend = ledger.spend_over_time()
    return (pd.DataFrame(ledger.totals("model")), pd.DataFrame(ledger.totals("month")),
            pd.DataFrame(spend) if spend else pd.DataFrame({"date": [], "cumulative $": []}),
            pd.DataFrame(rows, columns=ledger.COLUMNS))


# -- the wind-down ---------------------------------------------------------------------------------------------
def winddown_markdown(day: date | None = None, table=None) -> str:
    """The dates at the top of the tab: the wind-down's stages with the days left to the last, and each model's
    last day for new jobs and its retirement (uncertain ones marked)."""
    from openai_ft import pricing, winddown

    table = table or pricing.load()
    day = day or winddown.today()
    wind = table.wind_down
    if wind is None:
        return strings.OPENAI_WINDDOWN_NONE
    left = wind.days_left(day)
    when = (strings.OPENAI_WINDDOWN_LEFT.format(days=winddown.days(left)) if left > 0 else strings.OPENAI_WINDDOWN_TODAY
            if left == 0 else strings.OPENAI_WINDDOWN_CLOSED.format(days=winddown.days(-left)))
    lines = [strings.OPENAI_WINDDOWN_HEAD.format(final=wind.final.date, left=when), "",
             "| from | new fine-tuning jobs refused to | |", "|---|---|---|"]
    for stage in wind.stages:
        state = "in force" if stage.date <= day else f"in {winddown.days((stage.date - day).days)}"
        mark = "" if stage.certain else " (not confirmed)"
        lines.append(f"| **{stage.date}** | {stage.who}{mark} | {state} |")
    lines += ["", "| model | new jobs until | retires (its fine-tunes stop answering) |", "|---|---|---|"]
    for row in table.models.values():
        d = row.dates
        if d is None:
            lines.append(f"| {row.model} | {wind.final.date} (wind-down) | unknown |")
            continue
        until = d.fine_tuning_until or wind.final.date
        lines.append(f"| {row.model} | {_date_cell(until, day, d.certain('fine_tuning_until'), 'closed')} | "
                     f"{_date_cell(d.retires, day, d.certain('retires'), 'retired') if d.retires else 'not announced'} |")
    note = wind.note.rstrip(".") + "." if wind.note else ""
    lines += ["", strings.OPENAI_WINDDOWN_FOOT.format(source=wind.source, as_of=wind.as_of, note=note)]
    return "\n".join(lines)


def _date_cell(value: date, day: date, certain: bool, past: str) -> str:
    mark = "" if certain else " (not confirmed)"
    return f"{past} {value}{mark}" if value <= day else f"{value}{mark}"


def launch_warning(model: str | None, day: date | None = None) -> str:
    """What a launch on `model` faces today, said before it is made (empty when there is nothing to say)."""
    from openai_ft import winddown

    if not (model or "").strip():
        return ""
    ahead = winddown.outlook(model.strip(), day)
    if not ahead.warnings:
        return ""
    return f"{'⛔' if ahead.refused else '⚠️'} {ahead.text}"


# -- train locally instead ----------------------------------------------------------------------------------------
@dataclass
class LocalPlan:
    """The local LoRA run matched to an estimated OpenAI job: its config, steps and time on this machine."""

    config: object  # training.config.TrainConfig
    examples: int
    steps: int
    seconds: float | None  # from measured seconds per step; None: no measurement yet
    time_note: str  # ui.finetune_form's time estimate, with its assumption
    run_id: str | None = None


def local_form(path: str | Path, summary: dict, base_model: str | None = None) -> dict:
    """The Fine-tune form for the same file: LoRA on the builtin default, every example, the OpenAI job's epochs
    (its own number, or the auto rule's), no validation split (a chat file has none)."""
    from ui import finetune_form

    return {"dataset": str(path), "base_model": base_model or finetune_form.FORM_DEFAULTS["base_model"],
            "method": "lora", "epochs": int(summary["epochs"]), "eval_split": "none"}


def _local_seconds(config, steps: int) -> float | None:
    """Seconds for `steps` from the newest finished run of the same model and method (training.estimates), scaled
    to this run's examples per step as ui.finetune_form's estimate does; None when nothing was measured."""
    from training.estimates import measured_rate

    measured = measured_rate(config)
    if measured is None:
        return None
    per_step = int(config.batch_size) * int(config.grad_accum)
    return measured["rate"] * per_step / max(int(measured["batch"]) * int(measured["accum"]), 1) * steps


def local_plan(path: str | Path, summary: dict, base_model: str | None = None) -> LocalPlan:
    """What "Train locally instead" would start, without reading the data or a model: cheap enough for every
    estimate (the steps count the examples OpenAI's check counted)."""
    from training.recipe import planned_steps

    from ui import finetune_form

    config = finetune_form.make_config(local_form(path, summary, base_model))
    steps = planned_steps(config, int(summary["examples"]))
    return LocalPlan(config, int(summary["examples"]), steps, _local_seconds(config, steps),
                     finetune_form.time_estimate(config, steps))


def train_locally(path: str | None, summary: dict | None, base_model: str | None = None) -> LocalPlan:
    """Start the local LoRA run from the file just estimated (ui.finetune_form.start_training: checked first,
    nothing starts when the check fails); the plan carries its run id."""
    from ui import finetune_form

    if not path or not summary:
        raise TabError(strings.OPENAI_ESTIMATE_FIRST)
    started = finetune_form.start_training(local_form(path, summary, base_model))
    checked = started.checked
    return LocalPlan(checked.config, checked.examples, checked.steps, _local_seconds(checked.config, checked.steps),
                     checked.time_markdown, started.run_id)


def comparison_markdown(summary: dict, plan: LocalPlan, day: date | None = None) -> str:
    """OpenAI's estimate and the local run side by side: model, examples × epochs, cost, time, how long each lasts."""
    from openai_ft import pricing, winddown

    config = plan.config
    table = pricing.load()
    day = day or winddown.today()
    ahead = winddown.outlook(summary["model"], day, table)
    dates, wind = ahead.dates, table.wind_down
    until = (dates.fine_tuning_until if dates and dates.fine_tuning_until else wind.final.date if wind else None)
    if until is None:
        made = "unknown"
    elif ahead.refused:
        made = f"⛔ no longer ({ahead.warnings[0]})"
    else:
        made = f"until {until} ({winddown.days((until - day).days)} left)"
        if wind and wind.passed(day):
            made += "; refused already if your organisation is in a group cut off earlier (see above)"
    retires = (f"until {dates.retires}{'' if dates.certain('retires') else ' (not confirmed)'}"
               if dates and dates.retires else "until its base model retires")
    cost = summary.get("estimated_cost_usd")
    source = str(summary.get("time_source") or "").removeprefix("unknown: ")
    openai_time = (f"about {_duration(summary['estimated_seconds'])} (rate from {source}; queueing varies)"
                   if summary.get("estimated_seconds") is not None else f"unknown ({source})")
    rule = " (auto rule, an estimate)" if str(summary.get("epochs_rule", "")).startswith("auto") else ""
    method = "LoRA" if config.method.name == "lora" else config.method.name
    local_time = (f"about {_seconds(plan.seconds)} on this machine (measured seconds per step)"
                  if plan.seconds is not None else strings.OPENAI_LOCAL_NO_MEASUREMENT.format(
                      method=config.method.name, model=config.base_model))
    steps = f"{plan.steps} steps (batch {config.batch_size} × grad accum {config.grad_accum})"
    lines = ["| | OpenAI fine-tune | Train locally instead |", "|---|---|---|",
             f"| model | `{ahead.model}` | `{config.base_model}` + {method} |",
             f"| data | `{Path(summary['file']).name}` | the same file |",
             f"| examples × epochs | {summary['examples']:,} × {summary['epochs']}{rule} | "
             f"{plan.examples:,} × {config.epochs:g} = {steps} |",
             f"| cost | {'unknown (no price)' if cost is None else f'${cost:,.2f} (estimate)'} | $0 (this machine) |",
             f"| time | {openai_time} | {local_time} |",
             f"| can be started | {made} | any time |",
             f"| answers | {retires} | as long as its run folder is kept |"]
    head = (strings.OPENAI_LOCAL_STARTED.format(run_id=plan.run_id) if plan.run_id
            else strings.OPENAI_LOCAL_INTRO.format(model=config.base_model))
    return "\n".join([head, "", *lines, "", plan.time_note])


def _seconds(seconds: float) -> str:
    """A short time to the second (the OpenAI column rounds to minutes: its queue dwarfs seconds)."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
