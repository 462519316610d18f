"""OpenAI tab: the fine-tuning wind-down's dates, check and estimate (no key), launch and follow jobs (key), train
the same file locally instead, the cost ledger, the price table.

The logic lives in ui.openai_view and knows nothing of Gradio; it is re-exported here, so tests drive it
directly. The key lives in a gr.State (server memory, this browser session only) and is passed to each call; it is
never written anywhere. The jobs table refreshes on a timer: each tick asks OpenAI about the jobs still running (and
redraws the wind-down's days left).
"""
from __future__ import annotations

import logging

from ui import openai_compare, strings
from ui.openai_view import (LocalPlan, TabError, _unless_store_fails, comparison_markdown, estimate_view, job_view,
                            jobs_rows, key_status, launch, launch_warning, ledger_view, local_form, local_plan,
                            model_choices, prepare_source, readable, refresh_jobs, train_locally, winddown_markdown)

log = logging.getLogger(__name__)
TICK_SECONDS = 10
FINDING_COLUMNS = ["line", "field", "severity", "message"]
JOB_COLUMNS = ["job", "model", "status", "fine-tuned model", "estimated $", "actual $", "trained tokens", "created"]
EVENT_COLUMNS = ["time", "level", "message"]

# the logic re-exported from ui.openai_view (tests and other modules use these names here), and the layout
__all__ = ["LocalPlan", "TabError", "comparison_markdown", "estimate_view", "job_view", "jobs_rows", "key_status",
           "launch", "launch_warning", "ledger_view", "local_form", "local_plan", "model_choices", "prepare_source",
           "readable", "refresh_jobs", "train_locally", "winddown_markdown", "build"]


def build(demo=None) -> None:
    """Lay out the OpenAI tab inside the current gr.Blocks: check and estimate, launch, jobs, ledger, prices."""
    import gradio as gr

    gr.Markdown(strings.OPENAI_INTRO)
    c: dict = {"session_key": gr.State(""),  # this browser session's key; server memory only
               "checked_path": gr.State(None), "checked_summary": gr.State(None)}
    c["winddown"] = gr.Markdown(_winddown_or_error(), elem_id="openai-winddown")  # redrawn by the jobs timer
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
    button, on_estimate, inputs, outputs = c["estimate"]  # it also fills the launch section's warning and comparison
    button.click(on_estimate, inputs, [*outputs, c["launch_warning"], c["local_view"]])
    timer, on_tick, tick_inputs, tick_outputs = c["tick"]  # the jobs tick also redraws the ledger and the dates
    timer.tick(on_tick, tick_inputs, [*tick_outputs, *c["ledger_outputs"], c["winddown"]], show_progress="hidden")


def _winddown_or_error() -> str:
    try:
        return winddown_markdown()
    except Exception as exc:  # noqa: BLE001 - a broken price table must not take the tab down
        return f"{strings.ERROR_PREFIX}{readable(exc)}"


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
                    c["checked_summary"]: None, c["launch_warning"]: "", c["local_view"]: ""}
        try:
            warning = launch_warning(model_name)
        except Exception as exc:  # noqa: BLE001
            warning = f"{strings.ERROR_PREFIX}{readable(exc)}"
        try:
            local = comparison_markdown(result, local_plan(path, result))
        except Exception as exc:  # noqa: BLE001 - the estimate stands without the local column
            local = strings.OPENAI_LOCAL_PLAN_FAILED.format(error=readable(exc))
        return {summary: text, findings: found, c["checked_path"]: str(path), c["checked_summary"]: result,
                c["launch_warning"]: warning, c["local_view"]: local}

    # registered in build(), once the launch section's warning and comparison exist
    c["estimate"] = (estimate_button, on_estimate, [upload, dataset, split, c["model"], c["epochs"]],
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
    c["launch_warning"] = gr.Markdown(elem_id="openai-launch-warning")  # filled by the estimate
    with gr.Row():
        c["launch_button"] = gr.Button("Launch fine-tuning job", elem_id="openai-launch")
        local_button = gr.Button("Train locally instead", variant="primary", elem_id="openai-train-local")
    c["message"] = gr.Markdown(elem_id="openai-message")
    c["local_view"] = gr.Markdown(elem_id="openai-local")  # OpenAI's estimate and the local run side by side
    c["launch_inputs"] = [c["checked_path"], c["checked_summary"], validation, c["model"], suffix, c["epochs"],
                          batch_size, lr_multiplier, c["session_key"]]

    def on_train_local(path, result):
        """Start the local LoRA run from the file just estimated (operator-only: it starts a job)."""
        try:
            plan = train_locally(path, result)
            return {c["local_view"]: comparison_markdown(result, plan)}
        except Exception as exc:  # noqa: BLE001
            return {c["local_view"]: f"{strings.ERROR_PREFIX}{readable(exc)}"}

    local_button.click(on_train_local, [c["checked_path"], c["checked_summary"]], [c["local_view"]])
    openai_compare.build(c)


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
        except Exception as exc:  # noqa: BLE001 - a refused job shows in the table as "refused"
            return {message: f"{strings.ERROR_PREFIX}{readable(exc)}", jobs_table: _unless_store_fails(jobs_rows, [])}
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
                **(show_job(ref) if ref else {}), **dict(zip(c["ledger_outputs"], ledger_view())),
                c["winddown"]: _winddown_or_error()}

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
