"""Studies tab: a hyperparameter search (Optuna: sampler, pruner, two-phase or early-score protocol) or one of the
studies (LoRA rank, method comparison, data efficiency, data selection) from one form; watch its trials live
(state, parameters, score, steps), pruned % and compute saved, Optuna's plots, the best configuration with
"Train this" and "Evaluate this", and the report when it ends.

Each search or study is a child process (jobs.start → `python -m training.search run ...` or
`python -m training.studies run ...`), so the page only tails its events.jsonl and reads the files it writes
(summary.json, report.md, PNGs); a reloaded page re-attaches. The logic lives in plain functions that tests call
without Gradio: the form in ui.studies_form (make_config, check_form, start_study, run_config ...), the runs in
ui.studies_view (run_view, plot_images, cancel_run, train_best, evaluate_best ...), both re-exported here. This
module lays the tab out (each input's label, id, kind and default from its field's metadata: studies_form.form_fields)
and wires it; the run picker, refresh, re-attach, tick, cancel and config box are the shared ui.job_tab.JobPanel.
Nothing here imports torch, optuna or matplotlib at start-up.
"""
from __future__ import annotations

from dataclasses import dataclass

from training.methods import METHODS
from training.studies.config import SELECTIONS
from ui import job_tab, strings
from ui.job_tab import InputProblem, readable  # noqa: F401 - studies_tab.InputProblem, as before
from ui.studies_form import (CLI, DEFAULT_SPACE, FIELDS, FORM_DEFAULTS, KINDS, LABELS, MODULES,  # noqa: F401
                             Checked, Started, check_config, check_form, command, form_defaults, form_fields, job_kind,
                             make_config, parse_space, run_config, start_study, title_of, train_spec, validation_line,
                             _storage)
from ui.studies_view import (JOB_KINDS, LIVE_PLOT_SECONDS, PLOT_TITLES, TEXTS, StudyView,  # noqa: F401
                             cancel_run, evaluate_best, live_plots, plot_files, plot_images, run_choices, run_view,
                             train_best)


# -- the form ---------------------------------------------------------------------------------------------------
def _input(gr, info, value, **layout):
    """The input for a config field: label and elem_id (st-<form_id>) from its metadata (ui.studies_form.form_fields),
    its kind from its type (a check box; a number box, precision 0 for whole numbers; a dropdown of its choices; a
    text box)."""
    kwargs = dict(value=value, label=info.label, elem_id=f"st-{info.form_id}", **layout)
    if info.type is bool:
        return gr.Checkbox(**kwargs)
    if info.number:
        return gr.Number(precision=0 if info.whole else None, **kwargs)
    if info.choices is not None:
        return gr.Dropdown(list(info.choices), **kwargs)
    if info.placeholder:
        kwargs["placeholder"] = info.placeholder
    return gr.Textbox(**kwargs)


def _row(gr, w: dict, fields: dict, d: dict, names) -> None:
    for name in names:
        w[name] = _input(gr, fields[name], d[name])


def _base_fields(w: dict, fields: dict, d: dict) -> None:
    """What to run and the base training config (shared by searches and studies)."""
    import gradio as gr

    import settings
    from ui import finetune_form

    datasets = finetune_form.dataset_choices()
    default_dataset = d["dataset"] if any(v == d["dataset"] for _, v in datasets) else \
        (datasets[0][1] if datasets else None)
    w["kind"] = gr.Radio([(strings.STUDY_KIND_LABELS[k], k) for k in KINDS], value=d["kind"],
                         label="What to run", elem_id="st-kind")
    with gr.Row():
        w["base_model"] = gr.Dropdown(finetune_form.base_model_choices(runs=False), value=d["base_model"],
                                      allow_custom_value=True, label=fields["base_model"].label,
                                      elem_id="st-base-model", scale=2)
        w["dataset"] = gr.Dropdown(datasets, value=default_dataset, allow_custom_value=True,
                                   label=fields["dataset"].label, elem_id="st-dataset", scale=3)
        w["upload"] = gr.File(label=strings.UPLOAD_LABEL.format(limit=settings.max_upload_bytes() / 2**20)
                              .replace("; it is validated at once", ""),
                              file_types=[".jsonl", ".json", ".csv", ".tsv", ".parquet"], type="filepath",
                              elem_id="st-upload", scale=2)
    with gr.Row():
        _row(gr, w, fields, d, ("eval_dataset", "eval_split", "task", "method"))
    with gr.Row():
        _row(gr, w, fields, d, ("max_steps", "batch_size", "learning_rate", "max_length", "eval_every", "limit",
                                "seed"))


def _search_fields(w: dict, fields: dict, d: dict):
    """A search's space, protocol, sampler, pruner and budget; the group shown for "search"."""
    import gradio as gr

    with gr.Group(visible=True) as search_box:
        gr.Markdown(strings.STUDY_SEARCH_HELP)
        with gr.Row():
            w["space"] = gr.Code(value=d["space"], language="yaml", label=fields["space"].label,
                                 elem_id="st-space", scale=3)
            with gr.Column(scale=2):
                _row(gr, w, fields, d, ("protocol", "sampler", "pruner"))
        with gr.Row():
            _row(gr, w, fields, d, ("trials", "trial_steps", "top_k", "min_resource", "reduction_factor", "patience"))
        with gr.Row():
            _row(gr, w, fields, d, ("early_fraction", "verify_all", "objective", "direction", "storage"))
    return search_box


def _study_fields(w: dict, fields: dict, d: dict):
    """The studies' own knobs; the group shown for any study. The methods and selections pick from their
    registries (training.methods, training.studies.config.SELECTIONS)."""
    import gradio as gr

    with gr.Group(visible=False) as study_box:
        gr.Markdown(strings.STUDY_STUDY_HELP)
        with gr.Row():
            _row(gr, w, fields, d, ("metric", "ranks", "alpha_k", "intrinsic", "intrinsic_examples"))
        with gr.Row():
            _row(gr, w, fields, d, ("benchmark", "benchmark_limit"))
            w["methods"] = gr.Dropdown(list(METHODS), value=d["methods"], multiselect=True,
                                       label=fields["methods"].label, elem_id="st-methods")
            w["selections"] = gr.Dropdown(list(SELECTIONS), value=d["selections"], multiselect=True,
                                          label=fields["selections"].label, elem_id="st-selections")
        with gr.Row():
            _row(gr, w, fields, d, ("sizes", "epsilon", "pool", "select_rule", "select_k"))
        w["arms"] = gr.Textbox(value=d["arms"], lines=4, label=fields["arms"].label, elem_id="st-arms",
                               placeholder=strings.STUDY_ARMS_EXAMPLE)
    return study_box


@dataclass
class Form:
    """The form half: every field by name (in FIELDS order), the search and study groups, Check and Start, and what
    they say."""

    fields: dict
    search_box: object
    study_box: object
    check: object
    start: object
    message: object
    result: object


def form_layout() -> Form:
    import gradio as gr

    fields, d = form_fields(), form_defaults()  # the configs' metadata as it is now
    w: dict = {}
    _base_fields(w, fields, d)
    search_box = _search_fields(w, fields, d)
    study_box = _study_fields(w, fields, d)
    assert list(w) == list(d)
    with gr.Row():
        check = gr.Button("Check", elem_id="st-check")
        start = gr.Button("Start", variant="primary", elem_id="st-start")
    return Form(w, search_box, study_box, check, start, gr.Markdown(elem_id="st-message"),
                gr.Markdown(elem_id="st-check-result"))


# -- the runs ---------------------------------------------------------------------------------------------------
class Runs:
    """The runs half: the shared job panel (picker, refresh, re-attach, tick, cancel, config box) and what this tab
    shows of a run (status, figures, the trials table, the plots, the best configuration and its actions, the
    report). The live-plots checkbox is watched: attach and the tick draw live plots only while it is ticked."""

    def __init__(self, base_model):
        import gradio as gr

        self.base_model = base_model
        self.live = gr.Checkbox(value=True, label=f"Draw live plots from the study journal (at most every "
                                                  f"{LIVE_PLOT_SECONDS:g} s while a search runs)",
                                elem_id="st-live", render=False)  # laid out below the trials table
        self.panel = job_tab.JobPanel(owner=__name__, prefix="st", kinds=JOB_KINDS, texts=TEXTS, cancel=cancel_run,
                                      run_label="Run (recent searches and studies; pick one to watch)",
                                      view_of=run_view, config_of=run_config, show=self.show, clear=self.clear,
                                      idle=strings.STUDY_NO_RUN, on_load_extras=self.load_extras, watch=[self.live])

    def layout(self) -> None:
        import gradio as gr

        from ui import evaluate_tab

        gr.Markdown("### Searches and studies")
        with self.panel.picker():  # Cancel sits beside Refresh
            self.cancel = gr.Button("Cancel", variant="stop", elem_id="st-cancel", scale=1)
        self.status = gr.Markdown(elem_id="st-status")
        self.figures = gr.Markdown(elem_id="st-figures")
        self.table = gr.Dataframe(headers=["trial", "phase", "state"], label="Trials (live)", interactive=False,
                                  wrap=True, elem_id="st-trials-table")
        self.live.render()
        self.gallery = gr.Gallery(label="Plots", columns=2, height="auto", format="png", object_fit="contain",
                                  elem_id="st-plots")
        gr.Markdown("### Best configuration")
        self.best = gr.Markdown(elem_id="st-best")
        bench_options, _ = evaluate_tab.benchmark_choices()
        with gr.Row():
            self.train = gr.Button("Train this", elem_id="st-train-best")
            self.bench = gr.Dropdown(bench_options, value=bench_options[0][1] if bench_options else None,
                                     label="Benchmark for Evaluate this", elem_id="st-eval-benchmark", scale=3)
            self.bench_limit = gr.Number(value=20, precision=0, label="Items (0 = all)", elem_id="st-eval-limit")
            self.evaluate = gr.Button("Evaluate this", elem_id="st-evaluate-best")
        self.action = gr.Markdown(elem_id="st-action")
        gr.Markdown("### Report")
        self.report = gr.Markdown(elem_id="st-report")

    @property
    def shown(self) -> list:
        return [self.status, self.figures, self.table, self.gallery, self.best, self.report]

    def show(self, view: StudyView, want_live=True, fresh: bool = False, unchanged: bool = False) -> dict:
        """What the page shows of `view`; with `unchanged` (no new events) only the gallery, whose live plots may
        have been redrawn meanwhile."""
        gallery = self.fresh_gallery(view, want_live) if fresh else self.gallery_update(view, want_live)
        if unchanged:
            return gallery
        return {self.status: view.status_markdown, self.figures: view.figures_markdown, self.table: view.frame(),
                **gallery, self.best: view.best_markdown, self.report: view.report_markdown()}

    def clear(self, text: str, keep: bool = False) -> dict:
        if keep:
            return {self.status: text}
        return {self.status: text, self.figures: "", self.table: None, self.gallery: None, self.best: "",
                self.report: ""}

    def fresh_gallery(self, view: StudyView, want_live) -> dict:
        """A fresh view: replace whatever another run showed."""
        key, images = plot_images(view, bool(want_live))
        view.plots_key = key
        return {self.gallery: images or None}

    def gallery_update(self, view: StudyView, want_live) -> dict:
        """The gallery only when what it would show changed (nothing, so the browser keeps its images)."""
        key, images = plot_images(view, bool(want_live))
        if key == view.plots_key:
            return {}
        view.plots_key = key
        return {self.gallery: images or None}

    def load_extras(self) -> dict:
        import gradio as gr

        from ui import finetune_form

        return {self.base_model: gr.update(choices=finetune_form.base_model_choices())}


def train_started(run_id: str | None) -> str:
    """Train this: the sentence for the page (train_best's InputProblem otherwise)."""
    return strings.STUDY_TRAIN_STARTED.format(run_id=train_best(run_id))


def evaluate_started(run_id: str | None, benchmark: str | None, limit=0) -> str:
    """Evaluate this: the sentence for the page (evaluate_best's InputProblem otherwise)."""
    return strings.STUDY_EVALUATE_STARTED.format(run_id=evaluate_best(run_id, benchmark, limit), benchmark=benchmark)


# -- the tab ----------------------------------------------------------------------------------------------------
def build(demo=None) -> None:
    """Lay out the Studies tab; `demo.load` re-attaches to the latest active search or study after a reload."""
    import gradio as gr

    gr.Markdown(strings.STUDY_INTRO)
    form = form_layout()
    runs = Runs(form.fields["base_model"])
    runs.panel.config_box("The same job from a shell")  # under the form: Check fills it too
    runs.layout()
    wire(demo, form, runs)


def wire(demo, form: Form, runs: Runs) -> None:
    """Register the tab's events; every handler returns a dict keyed by component (what it leaves out stays)."""
    import gradio as gr

    from ui import finetune_form

    panel, w, message, result = runs.panel, form.fields, form.message, form.result

    def failed(exc) -> dict:
        return {message: f"**{strings.ERROR_PREFIX}{readable(exc)}**",
                result: strings.STUDY_CHECK_FAILED.format(error=readable(exc))}

    def on_check(*values):
        try:
            checked = check_form(dict(zip(FIELDS, values)))
        except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
            return failed(exc)
        return {message: "", result: checked.markdown, panel.config: checked.config_yaml,
                panel.command: checked.command}

    def on_start(*values):
        try:
            started = start_study(dict(zip(FIELDS, values)))
        except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
            return failed(exc)
        return {result: "", **panel.after(started.run_id, message, strings.STUDY_STARTED.format(run_id=started.run_id))}

    def on_kind(kind):
        return {form.search_box: gr.update(visible=kind == "search"),
                form.study_box: gr.update(visible=kind != "search")}

    def on_upload(temp_path):
        if not temp_path:
            return {message: gr.skip()}
        try:
            path = finetune_form.upload_dataset(temp_path)
        except finetune_form.InputProblem as exc:
            return {message: f"**{strings.ERROR_PREFIX}{exc}**"}
        return {w["dataset"]: gr.update(value=path), message: f"Uploaded: training reads `{path}`."}

    inputs = [w[name] for name in FIELDS]
    w["kind"].change(on_kind, w["kind"], [form.search_box, form.study_box], queue=False)
    w["upload"].upload(on_upload, w["upload"], [w["dataset"], message])
    w["dataset"].input(lambda: {w["upload"]: None}, None, w["upload"])  # a typed dataset replaces the upload
    form.check.click(on_check, inputs, [message, result, panel.config, panel.command], concurrency_limit=2)
    panel.wire(demo, shown=runs.shown, message=message, cancel=runs.cancel, extra_outputs=[w["base_model"]])
    form.start.click(on_start, inputs, panel.outputs_with(message, result), concurrency_limit=2)
    panel.action(runs.train, train_started, runs.action, name="on_train", failure="", outputs_only=True)
    panel.action(runs.evaluate, evaluate_started, runs.action, name="on_evaluate", failure="", outputs_only=True,
                 inputs=[runs.bench, runs.bench_limit])
