"""OpenAI tab: check and estimate (no key), launch and follow jobs (key), the cost ledger, the price table.

The functions above `build` hold the logic and know nothing of Gradio, so tests drive them directly. The key
lives in a gr.State (server memory, this browser session only) and is passed to each call; it is never
written anywhere. The jobs table refreshes on a timer: each tick asks OpenAI about the jobs still running.
"""
from __future__ import annotations

import logging
from pathlib import Path

import errors
from ui import strings
from ui.job_tab import InputProblem

log = logging.getLogger(__name__)
TICK_SECONDS = 10
FINDING_COLUMNS = ["line", "field", "severity", "message"]
JOB_COLUMNS = ["job", "model", "status", "fine-tuned model", "estimated $", "actual $", "trained tokens", "created"]
EVENT_COLUMNS = ["time", "level", "message"]


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


def build(demo=None) -> None:
    """Lay out the OpenAI tab inside the current gr.Blocks: check and estimate, launch, jobs, ledger, prices."""
    import gradio as gr

    gr.Markdown(strings.OPENAI_INTRO)
    c: dict = {"session_key": gr.State(""),  # this browser session's key; server memory only
               "checked_path": gr.State(None), "checked_summary": gr.State(None)}
    c["key_box"] = gr.Textbox(label="OpenAI API key", type="password", info=strings.KEY_HELP, elem_id="openai-key")
    c["key_info"] = gr.Markdown(key_status(None), elem_id="openai-key-status")

    def on_key(key):
        return {c["session_key"]: key, c["key_info"]: key_status(key)}

    c["key_box"].change(on_key, c["key_box"], [c["session_key"], c["key_info"]], queue=False)
    _estimate_section(c)
    _launch_section(c)
    _jobs_section(c)
    _ledger_section(c)
    _prices_section(c)
    timer, on_tick, tick_inputs, tick_outputs = c["tick"]  # the jobs tick also redraws the ledger below it
    timer.tick(on_tick, tick_inputs, [*tick_outputs, *c["ledger_outputs"]], show_progress="hidden")


def _estimate_section(c: dict) -> None:
    import gradio as gr

    gr.Markdown("### 1. Check and estimate")
    with gr.Row():
        upload = gr.File(label="Chat JSONL file", file_types=[".jsonl"], type="filepath", elem_id="openai-upload")
        with gr.Column():
            dataset = gr.Textbox(label="…or a data set", placeholder="bundled:ddi-binary, shared:ddi or a path",
                                 elem_id="openai-dataset")
            split = gr.Textbox(label="Split", value="train", elem_id="openai-split")
    with gr.Row():
        c["model"] = gr.Dropdown(model_choices(), value="gpt-4o-mini-2024-07-18", label="Model to fine-tune",
                                 allow_custom_value=True, elem_id="openai-model")
        c["epochs"] = gr.Textbox(label="Epochs (a number, or auto: OpenAI's default rule)", value="auto",
                                 elem_id="openai-epochs")
    estimate_button = gr.Button("Check and estimate", variant="primary", elem_id="openai-estimate")
    summary = gr.Markdown(elem_id="openai-summary")
    findings = gr.Dataframe(headers=FINDING_COLUMNS, label="Findings (line and field)", interactive=False, wrap=True,
                            elem_id="openai-findings")

    def on_estimate(upload_path, ref, split_name, model_name, epochs_text):
        try:
            path = prepare_source(upload_path, ref, split_name)
            text, found, result = estimate_view(path, model_name, epochs_text)
        except Exception as exc:  # noqa: BLE001 - a sentence, never a stack trace
            return {summary: f"{strings.ERROR_PREFIX}{readable(exc)}", findings: [], c["checked_path"]: None,
                    c["checked_summary"]: None}
        return {summary: text, findings: found, c["checked_path"]: str(path), c["checked_summary"]: result}

    estimate_button.click(on_estimate, [upload, dataset, split, c["model"], c["epochs"]],
                          [summary, findings, c["checked_path"], c["checked_summary"]])


def _launch_section(c: dict) -> None:
    import gradio as gr

    gr.Markdown("### 2. Launch (needs a key)")
    with gr.Row():
        validation = gr.File(label="Validation file (optional)", file_types=[".jsonl"], type="filepath",
                             elem_id="openai-validation")
        with gr.Column():
            suffix = gr.Textbox(label="Suffix of the model name", placeholder="ddi", elem_id="openai-suffix")
            batch_size = gr.Textbox(label="Batch size", value="auto", elem_id="openai-batch")
            lr_multiplier = gr.Textbox(label="Learning-rate multiplier", value="auto", elem_id="openai-lr")
    c["launch_button"] = gr.Button("Launch fine-tuning job", elem_id="openai-launch")
    c["message"] = gr.Markdown(elem_id="openai-message")
    c["launch_inputs"] = [c["checked_path"], c["checked_summary"], validation, c["model"], suffix, c["epochs"],
                          batch_size, lr_multiplier, c["session_key"]]


def _jobs_section(c: dict) -> None:
    """The jobs table refreshes itself (and the ledger) on a timer; launching and cancelling update it at once."""
    import gradio as gr

    gr.Markdown("### 3. Jobs (refresh on their own)")
    jobs_table = gr.Dataframe(_unless_store_fails(jobs_rows, []), headers=JOB_COLUMNS, label="Jobs, newest first",
                              interactive=False, elem_id="openai-jobs")
    sync_message = gr.Markdown(elem_id="openai-sync")
    with gr.Row():
        job_pick = gr.Dropdown([], label="Job", allow_custom_value=True, elem_id="openai-job")
        cancel_button = gr.Button("Cancel job", elem_id="openai-cancel")
    job_status = gr.Markdown(elem_id="openai-job-status")
    metrics_plot = gr.LinePlot(x="step", y="value", color="series", label="Checkpoint metrics (loss, token accuracy)",
                               elem_id="openai-metrics", height=280)
    events_table = gr.Dataframe(headers=EVENT_COLUMNS, label="Events, newest first", interactive=False, wrap=True,
                                elem_id="openai-events")
    timer = gr.Timer(TICK_SECONDS)
    message = c["message"]
    job_outputs = [job_status, metrics_plot, events_table]

    def on_launch(path, result, validation_path, model_name, suffix_text, epochs_text, batch, lr, key):
        try:
            text = launch(path, result, validation_path, model_name, suffix_text, epochs_text, batch, lr, key)
        except Exception as exc:  # noqa: BLE001
            return {message: f"{strings.ERROR_PREFIX}{readable(exc)}"}
        rows_now = jobs_rows()
        choices = [r[0] for r in rows_now]
        return {message: text, jobs_table: rows_now,
                job_pick: gr.update(choices=choices, value=choices[0] if choices else None)}

    def show_job(ref):
        try:
            return dict(zip(job_outputs, job_view(ref)))
        except Exception as exc:  # noqa: BLE001
            return {job_status: f"{strings.ERROR_PREFIX}{readable(exc)}"}

    def on_tick(key, ref):
        rows_now, problems = refresh_jobs(key)
        choices = [r[0] for r in rows_now]
        return {jobs_table: rows_now, sync_message: problems,
                job_pick: gr.update(choices=choices, value=ref or (choices[0] if choices else None)),
                **(show_job(ref) if ref else {}), **dict(zip(c["ledger_outputs"], ledger_view()))}

    def on_cancel(ref, key):
        from openai_ft import jobs

        try:
            job = jobs.cancel(ref, api_key=key or None) if ref else None
        except Exception as exc:  # noqa: BLE001
            return {message: f"{strings.ERROR_PREFIX}{readable(exc)}"}
        if job is None:
            return {message: strings.OPENAI_NO_JOB}
        return {message: strings.OPENAI_CANCELLED.format(job_id=job.job_id or job.token), jobs_table: jobs_rows()}

    c["launch_button"].click(on_launch, c["launch_inputs"], [message, jobs_table, job_pick])
    job_pick.change(show_job, job_pick, job_outputs)
    c["tick"] = (timer, on_tick, [c["session_key"], job_pick], [jobs_table, sync_message, job_pick, *job_outputs])
    cancel_button.click(on_cancel, [job_pick, c["session_key"]], [message, jobs_table])


def _ledger_section(c: dict) -> None:
    import gradio as gr

    from openai_ft import ledger

    gr.Markdown("### 4. Ledger")
    by_model, by_month, spend, rows = _unless_store_fails(ledger_view, (None, None, None, None))
    spend_plot = gr.LinePlot(spend, x="date", y="cumulative $", label="Spend over time (cumulative $)",
                             elem_id="openai-spend", height=240)
    with gr.Row():
        model_totals = gr.Dataframe(by_model, label="By model", interactive=False, elem_id="openai-by-model")
        month_totals = gr.Dataframe(by_month, label="By month", interactive=False, elem_id="openai-by-month")
    ledger_table = gr.Dataframe(rows, label="Every job and every billed call (estimated, actual, difference)",
                                interactive=False, wrap=True, elem_id="openai-ledger")
    with gr.Row():
        ledger_refresh = gr.Button("Refresh ledger", elem_id="openai-ledger-refresh")
        export_button = gr.Button("Export CSV", elem_id="openai-ledger-export")
    export_file = gr.File(label="CSV", interactive=False, visible=False, elem_id="openai-ledger-csv")
    export_message = gr.Markdown(elem_id="openai-export-message")
    c["ledger_outputs"] = [model_totals, month_totals, spend_plot, ledger_table]

    def on_ledger():
        return dict(zip(c["ledger_outputs"], ledger_view()))

    def on_export():
        path = ledger.export_csv()
        return {export_file: gr.update(value=str(path), visible=True),
                export_message: strings.OPENAI_LEDGER_EXPORTED.format(rows=len(ledger.rows()), name=path.name)}

    ledger_refresh.click(on_ledger, None, c["ledger_outputs"])
    export_button.click(on_export, None, [export_file, export_message])


def _prices_section(c: dict) -> None:
    import gradio as gr

    from openai_ft import pricing

    with gr.Accordion("Price table (prices.yaml: edit and save)", open=False):
        prices = gr.Code(pricing.current_file().read_text(encoding="utf-8"), language="yaml", interactive=True,
                         label="Prices per 1M tokens", elem_id="openai-prices")
        save_prices = gr.Button("Save prices", elem_id="openai-prices-save")
        prices_message = gr.Markdown(elem_id="openai-prices-message")

    def on_save_prices(text):
        try:
            path = pricing.save(text)
        except Exception as exc:  # noqa: BLE001
            return {prices_message: f"{strings.ERROR_PREFIX}{readable(exc)}"}
        return {prices_message: strings.OPENAI_PRICES_SAVED.format(path=path),
                c["model"]: gr.update(choices=model_choices())}

    save_prices.click(on_save_prices, prices, [prices_message, c["model"]])
