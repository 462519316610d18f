"""Fine-tune tab: build a training config from the form, check it, start it as a job, watch it (live loss, learning
rate and gradient-norm plots, tokens/s, ETA, memory), cancel, resume, export and read the model card.

The job is a child process (jobs.start → `python -m training run --config ...`), so the page only tails its
events.jsonl and reads the store; a reloaded page re-attaches. The logic lives in plain functions that tests call
without Gradio: the form in ui.finetune_form (form_fields, make_config, check_config, start_training, run_config
...), the runs in ui.finetune_view (TrainView, run_view, cancel_run, resume_run, run_files, model_card, the export,
queue_rows ...), both re-exported here. This module lays the tab out and wires it; the run picker, refresh,
re-attach, tick, cancel and config box are the shared ui.job_tab.JobPanel. Nothing here imports torch at start-up:
checking a config does, when the user asks for it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from ui import job_tab, strings
from ui.finetune_form import (DEFAULT_DATASET, EXPLICIT, FIELDS, FORM_DEFAULTS, KIND, LABELS, MODULE,  # noqa: F401
                              SETTINGS_PER_ROW, TASK_OPTIONS, TRAINABLE_SCHEMES, TRAINING_ROWS, Checked, Started,
                              base_model_choices, check_config, check_form, confined, count_examples, dataset_choices,
                              form_defaults, form_fields, make_config, method_settings, run_config, start_training,
                              structured, task_settings, time_estimate, title_of, upload_dataset)
from ui.finetune_view import (EVAL_COLUMNS, FILE_COLUMNS, MAX_PLOT_POINTS, QUEUE_COLUMNS, TEXTS,  # noqa: F401
                              TrainView, cancel_run, export_markdown, exporting, latest_checkpoint_step, model_card,
                              queue_rows, resume_run, run_choices, run_files, run_view, start_export, wait_export)
from ui.job_tab import InputProblem, config_path, readable  # noqa: F401 - finetune_tab.InputProblem, as before


# -- the form ---------------------------------------------------------------------------------------------------
def _input(gr, info, value, *, radio: bool = False, **layout):
    """The input for a config field: label and elem_id (ft-<form_id>) from its metadata, its kind from its type (a
    check box; a number box, precision 0 for whole numbers; a dropdown, or radio, of its choices; a text box)."""
    kwargs = dict(value=value, label=info.label, elem_id=f"ft-{info.form_id}", **layout)
    if info.type is bool:
        return gr.Checkbox(**kwargs)
    if info.number:
        return gr.Number(precision=0 if info.whole else None, **kwargs)
    if info.choices is not None and isinstance(info.default, list):  # several names: a multiselect
        return gr.Dropdown(list(info.choices), multiselect=True, **kwargs)
    if info.choices is not None:
        return (gr.Radio if radio else gr.Dropdown)(list(info.choices), **kwargs)
    if info.placeholder:
        kwargs["placeholder"] = info.placeholder
    return gr.Textbox(**kwargs)


def _what_to_train(gr, w: dict, fields: dict, d: dict) -> None:
    """The base model, the data set (picked, typed or uploaded), the task and the method."""
    import settings

    datasets = dataset_choices()
    default_dataset = DEFAULT_DATASET if any(v == DEFAULT_DATASET for _, v in datasets) else \
        (datasets[0][1] if datasets else None)
    with gr.Row():
        w["base_model"] = gr.Dropdown(base_model_choices(runs=False), value=d["base_model"], allow_custom_value=True,
                                      label=fields["base_model"].label, elem_id="ft-base-model", scale=2)
        w["dataset"] = gr.Dropdown(datasets, value=default_dataset, allow_custom_value=True,
                                   label=fields["dataset"].label, elem_id="ft-dataset", scale=3)
        w["upload"] = gr.File(label=strings.UPLOAD_LABEL.format(limit=settings.max_upload_bytes() / 2**20)
                              .replace("; it is validated at once", ""),
                              file_types=[".jsonl", ".json", ".csv", ".tsv", ".parquet"], type="filepath",
                              elem_id="ft-upload", scale=2)
    with gr.Row():
        for name in ("task", "method"):
            w[name] = _input(gr, fields[name], d[name], radio=True)


def _settings(gr, w: dict, fields: dict, d: dict) -> None:
    """The method settings (every registered method's), the training settings and the task options, in their rows."""
    method_names = method_settings()
    with gr.Accordion("Method settings (LoRA fields also apply to QLoRA; targets to IA3 and BitFit)", open=False):
        for start in range(0, len(method_names), SETTINGS_PER_ROW):
            with gr.Row():
                for name in method_names[start:start + SETTINGS_PER_ROW]:
                    w[name] = _input(gr, fields[name], d[name])
    with gr.Accordion("Training settings", open=True):
        for row in TRAINING_ROWS:
            with gr.Row():
                for name in row:
                    w[name] = _input(gr, fields[name], d[name])
    with gr.Accordion("Task options", open=False):
        with gr.Row():
            for name in TASK_OPTIONS:
                w[name] = _input(gr, fields[name], d[name])
    by_section: dict[str, list[str]] = {}
    for name, (section, _) in task_settings().items():
        by_section.setdefault(section, []).append(name)
    for section, names in by_section.items():
        with gr.Accordion(strings.FT_SECTION_TITLES.get(section, f"{section} settings"), open=False):
            for start in range(0, len(names), SETTINGS_PER_ROW):
                with gr.Row():
                    for name in names[start:start + SETTINGS_PER_ROW]:
                        w[name] = _input(gr, fields[name], d[name], **({"lines": 3} if structured(fields[name]) else {}))


@dataclass
class Form:
    """The form half: every config input by name (in the order the handlers read them), Check and Start, and what
    they say."""

    fields: dict
    check: object
    start: object
    message: object
    result: object


def form_layout() -> Form:
    import gradio as gr

    from ui import evaluate_tab

    fields, d = form_fields(), form_defaults()  # the registered methods as they are now
    w: dict = {}
    _what_to_train(gr, w, fields, d)
    _settings(gr, w, fields, d)
    bench_options, _ = evaluate_tab.benchmark_choices()
    with gr.Row():
        w["evaluate"] = gr.Dropdown(bench_options, value=[], multiselect=True, label=fields["evaluate"].label,
                                    elem_id="ft-evaluate", scale=4)
        w["evaluate_limit"] = _input(gr, fields["evaluate_limit"], d["evaluate_limit"], scale=1)
    assert list(w) == list(d)
    with gr.Row():
        check = gr.Button("Check", elem_id="ft-check")
        start = gr.Button("Start training", variant="primary", elem_id="ft-start")
    return Form(w, check, start, gr.Markdown(elem_id="ft-message"), gr.Markdown(elem_id="ft-check-result"))


# -- the runs ---------------------------------------------------------------------------------------------------
def _table(rows, columns):
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


class Runs:
    """The runs half: the shared job panel (picker, refresh, re-attach, tick, cancel, config box) and what this tab
    shows of a run (status, figures, the three plots, the export's state, the model reference, the evaluation after
    training), its own actions (Resume, Files, Export, Model card) and the training queue."""

    def __init__(self, base_model):
        self.base_model = base_model
        self.panel = job_tab.JobPanel(
            owner=__name__, prefix="ft", kinds=(KIND,), texts=TEXTS, cancel=cancel_run, idle=strings.FT_NO_RUN,
            run_label="Run (recent training runs; pick one to watch)", view_of=run_view, config_of=run_config,
            show=self.show, clear=self.clear, extras=self.extras, on_load_extras=self.load_extras)

    def layout(self) -> None:
        import gradio as gr

        gr.Markdown("### Runs")
        self.panel.picker()
        self.status = gr.Markdown(elem_id="ft-status")
        self.figures = gr.Markdown(elem_id="ft-figures")
        with gr.Row():
            self.loss = gr.LinePlot(x="step", y="loss", color="series", label="Loss (train and eval)",
                                    elem_id="ft-loss-plot", height=260)
            self.lr = gr.LinePlot(x="step", y="learning rate", label="Learning rate", elem_id="ft-lr-plot",
                                  height=260)
            self.grad = gr.LinePlot(x="step", y="grad norm", label="Gradient norm", elem_id="ft-grad-plot",
                                    height=260)
        with gr.Row():  # shown when the run logs them: GRPO rewards and KL, preference margins, held-out scores
            self.reward = gr.LinePlot(x="step", y="reward", color="series", label="Reward (mean and std, per component)",
                                      elem_id="ft-reward-plot", height=260, visible=False)
            self.kl = gr.LinePlot(x="step", y="KL", label="KL to the reference model", elem_id="ft-kl-plot",
                                  height=260, visible=False)
            self.preference = gr.LinePlot(x="step", y="value", color="series", label="Chosen vs rejected",
                                          elem_id="ft-margin-plot", height=260, visible=False)
            self.heldout = gr.LinePlot(x="step", y="score", color="series", label="Held-out benchmark during training",
                                       elem_id="ft-heldout-plot", height=260, visible=False)
        with gr.Row():
            self.cancel = gr.Button("Cancel", variant="stop", elem_id="ft-cancel")
            self.resume = gr.Button("Resume", elem_id="ft-resume")
            self.files_button = gr.Button("Files", elem_id="ft-files")
            self.export = gr.Button("Export merged model", elem_id="ft-export")
            self.export_gguf = gr.Button("Export GGUF", elem_id="ft-export-gguf")
            self.gguf_quant = gr.Dropdown(_gguf_quants(), value="q8_0", label="GGUF type", elem_id="ft-gguf-quant",
                                          min_width=120)
            self.card_button = gr.Button("Model card", elem_id="ft-card")
        self.action = gr.Markdown(elem_id="ft-action")
        self.reference = gr.Markdown(elem_id="ft-reference")
        self.evaluation_note = gr.Markdown(elem_id="ft-evaluation-note")
        self.evaluation = gr.Dataframe(headers=EVAL_COLUMNS, label="Evaluation after training", interactive=False,
                                       wrap=True, elem_id="ft-evaluation")
        self.files = gr.Dataframe(headers=FILE_COLUMNS, label="Files in the run folder", interactive=False,
                                  elem_id="ft-files-list", visible=False)
        self.card = gr.Markdown(elem_id="ft-card-text", visible=False)
        gr.Markdown("### Training queue")
        self.queue = gr.Dataframe(headers=QUEUE_COLUMNS, label="Queued and running training jobs (oldest first)",
                                  interactive=False, elem_id="ft-queue")

    @property
    def shown(self) -> list:
        return [self.status, self.figures, self.loss, self.lr, self.grad, self.reward, self.kl, self.preference,
                self.heldout, self.action, self.reference, self.evaluation_note, self.evaluation, self.queue]

    def show(self, view: TrainView, fresh: bool = False, unchanged: bool = False) -> dict:
        if unchanged:
            return {}
        out = {self.status: view.status_markdown, self.figures: view.figures_markdown,
               self.loss: view.loss_frame(), self.lr: view.lr_frame(), self.grad: view.grad_frame(),
               self.reference: view.reference_markdown, self.evaluation_note: view.evaluation_markdown,
               self.evaluation: _table(view.evaluation_rows, EVAL_COLUMNS)}
        out.update(self._extra_plots(view))
        if fresh:
            out[self.action] = export_markdown(view.run_id)
        return out

    def _extra_plots(self, view: TrainView) -> dict:
        import gradio as gr

        plots = view.plots
        held = view.heldout_frame()
        return {self.reward: gr.update(value=view.reward_frame(), visible="reward" in plots),
                self.kl: gr.update(value=view.kl_frame(), visible="kl" in plots),
                self.preference: gr.update(value=view.preference_frame(),
                                           visible="margin" in plots or "accuracy" in plots),
                self.heldout: gr.update(value=held, visible=held is not None and not held.empty)}

    def clear(self, text: str, keep: bool = False) -> dict:
        if keep:
            return {self.status: text}
        import gradio as gr

        hidden = {plot: gr.update(value=None, visible=False)
                  for plot in (self.reward, self.kl, self.preference, self.heldout)}
        return {**hidden, self.status: text, self.figures: "", self.loss: None, self.lr: None, self.grad: None,
                self.reference: "", self.evaluation_note: "", self.evaluation: _table([], EVAL_COLUMNS),
                self.action: ""}

    def extras(self) -> dict:
        return {self.queue: _table(queue_rows(), QUEUE_COLUMNS)}

    def load_extras(self) -> dict:
        import gradio as gr

        return {self.base_model: gr.update(choices=base_model_choices())}


# -- the tab ----------------------------------------------------------------------------------------------------
def build(demo=None) -> None:
    """Lay out the Fine-tune tab; `demo.load` re-attaches to the latest active training run after a reload."""
    import gradio as gr

    gr.Markdown(strings.FT_INTRO)
    form = form_layout()
    runs = Runs(form.fields["base_model"])
    runs.panel.config_box("The same training from a shell")  # under the form: Check fills it too
    runs.layout()
    wire(demo, form, runs)


def wire(demo, form: Form, runs: Runs) -> None:
    """Register the tab's events; every handler returns a dict keyed by component (what it leaves out stays)."""
    import gradio as gr

    panel, w, message, result = runs.panel, form.fields, form.message, form.result
    names = list(w)  # the form as built (a method registered after import has its inputs here too)

    def failed(exc) -> dict:
        return {message: f"**{strings.ERROR_PREFIX}{readable(exc)}**",
                result: strings.FT_CHECK_FAILED.format(error=readable(exc))}

    def on_check(*values):
        try:
            checked = check_form(dict(zip(names, values)))
        except Exception as exc:  # noqa: BLE001
            return failed(exc)
        return {message: "", result: checked.markdown, panel.config: checked.config_yaml,
                panel.command: checked.command}

    def on_start(*values):
        try:
            started = start_training(dict(zip(names, values)))
        except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
            return failed(exc)
        return {**panel.after(started.run_id, message, strings.FT_STARTED.format(run_id=started.run_id)),
                result: started.checked.markdown}

    def on_upload(temp_path):
        if not temp_path:
            return {}
        try:
            path = upload_dataset(temp_path)
        except InputProblem as exc:
            return {message: f"**{strings.ERROR_PREFIX}{exc}**"}
        return {w["dataset"]: gr.update(value=path), message: f"Uploaded: training reads `{path}`."}

    panel.wire(demo, shown=runs.shown, message=message, cancel=runs.cancel, extra_outputs=[w["base_model"]])
    panel.action(runs.resume, resume_run, message, name="on_resume", failure="The run could not be resumed: ")
    inputs = list(w.values())
    w["upload"].upload(on_upload, w["upload"], [w["dataset"], message])
    w["dataset"].input(lambda: {w["upload"]: None}, None, w["upload"])  # a picked or typed set replaces an upload
    form.check.click(on_check, inputs, [message, result, panel.config, panel.command], concurrency_limit=2)
    form.start.click(on_start, inputs, panel.outputs_with(message, result), concurrency_limit=2)
    _wire_run_actions(runs)


def _wire_run_actions(runs: Runs) -> None:
    """Files, Model card and Export on the picked run: each says what it did in the action line."""
    import gradio as gr

    action, files, card = runs.action, runs.files, runs.card

    def on_files(run_id):
        if not run_id:
            return {action: strings.FT_NO_RUN, files: gr.update(visible=False)}
        try:
            rows = run_files(run_id)
        except Exception as exc:  # noqa: BLE001
            return {action: f"{strings.ERROR_PREFIX}{readable(exc)}", files: gr.update(visible=False)}
        run_folder = config_path(run_id).parent
        return {action: f"Files in `{run_folder}`:",
                files: gr.update(value=_table(rows, FILE_COLUMNS), visible=True)}

    def on_card(run_id):
        if not run_id:
            return {action: strings.FT_NO_RUN, card: gr.update(visible=False)}
        try:
            text = model_card(run_id)
        except Exception as exc:  # noqa: BLE001
            return {action: f"{strings.ERROR_PREFIX}{readable(exc)}", card: gr.update(visible=False)}
        return {action: f"Model card written to `{config_path(run_id).parent / 'README.md'}`:",
                card: gr.update(value=text, visible=True)}

    def on_export(run_id, target="merged", quant="q8_0"):
        if not run_id:
            yield {action: strings.FT_NO_RUN}
            return
        start_export(run_id, target, quant)
        yield {action: export_markdown(run_id)}
        while exporting(run_id):
            time.sleep(0.5)
        yield {action: export_markdown(run_id)}

    def on_export_gguf(run_id, quant):
        yield from on_export(run_id, "gguf", quant or "q8_0")

    run = runs.panel.run
    runs.files_button.click(on_files, run, [action, files])
    runs.card_button.click(on_card, run, [action, card])
    runs.export.click(on_export, run, action, concurrency_limit=2)
    runs.export_gguf.click(on_export_gguf, [run, runs.gguf_quant], action, concurrency_limit=2)


def _gguf_quants() -> list[tuple[str, str]]:
    """The GGUF types this machine's gguf package can write, for the dropdown (gguf needs numpy, not torch)."""
    from models.gguf_export import available

    return [(f"{name}: {about}", name) for name, about in available().items()]
