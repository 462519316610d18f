"""Studies tab: a hyperparameter search (Optuna: sampler, pruner, two-phase or early-score protocol) or one of the
studies (LoRA rank, method comparison, data efficiency, data selection) from one form; watch its trials live
(state, parameters, score, steps), pruned % and compute saved, Optuna's plots, the best configuration with
"Train this" and "Evaluate this", and the report when it ends.

Each search or study is a child process (jobs.start → `python -m training.search run ...` or
`python -m training.studies run ...`), so the page only tails its events.jsonl and reads the files it writes
(summary.json, report.md, PNGs); a reloaded page re-attaches. The logic lives in plain functions that tests call
without Gradio: the form in ui.studies_form (make_config, check_form, start_study, run_config ...), the runs in
ui.studies_view (run_view, plot_images, cancel_run, train_best, evaluate_best ...), both re-exported here. This
module lays the tab out and wires it; the run picker, refresh, re-attach, tick, cancel and config box are the
shared ui.job_tab.JobPanel. Nothing here imports torch, optuna or matplotlib at start-up.
"""
from __future__ import annotations

from dataclasses import dataclass

from training.methods import METHODS
from training.search.config import DIRECTIONS, PROTOCOLS, PRUNERS, SAMPLERS
from training.studies.config import SELECTIONS
from ui import job_tab, strings
from ui.job_tab import InputProblem, readable  # noqa: F401 - studies_tab.InputProblem, as before
from ui.studies_form import (CLI, DEFAULT_SPACE, FIELDS, FORM_DEFAULTS, KINDS, LABELS, MODULES,  # noqa: F401
                             Checked, Started, check_config, check_form, command, job_kind, make_config, parse_space,
                             run_config, start_study, title_of, train_spec, validation_line, _storage)
from ui.studies_view import (JOB_KINDS, LIVE_PLOT_SECONDS, PLOT_TITLES, TEXTS, StudyView,  # noqa: F401
                             cancel_run, evaluate_best, live_plots, plot_files, plot_images, run_choices, run_view,
                             train_best)


# -- the form ---------------------------------------------------------------------------------------------------
def _base_fields(w: dict) -> None:
    """What to run and the base training config (shared by searches and studies)."""
    import gradio as gr

    import settings
    from training.config import TASKS
    from ui import finetune_tab

    d = FORM_DEFAULTS
    datasets = finetune_tab.dataset_choices()
    default_dataset = d["dataset"] if any(v == d["dataset"] for _, v in datasets) else \
        (datasets[0][1] if datasets else None)
    w["kind"] = gr.Radio([(strings.STUDY_KIND_LABELS[k], k) for k in KINDS], value=d["kind"],
                         label="What to run", elem_id="st-kind")
    with gr.Row():
        w["base_model"] = gr.Dropdown(finetune_tab.base_model_choices(runs=False), value=d["base_model"],
                                      allow_custom_value=True, label="Base model (or type hf:<folder> or run:<id>)",
                                      elem_id="st-base-model", scale=2)
        w["dataset"] = gr.Dropdown(datasets, value=default_dataset, allow_custom_value=True,
                                   label="Dataset (bundled or shared set, an uploaded file, or a file path)",
                                   elem_id="st-dataset", scale=3)
        w["upload"] = gr.File(label=strings.UPLOAD_LABEL.format(limit=settings.max_upload_bytes() / 2**20)
                              .replace("; it is validated at once", ""),
                              file_types=[".jsonl", ".json", ".csv", ".tsv", ".parquet"], type="filepath",
                              elem_id="st-upload", scale=2)
    with gr.Row():
        w["eval_dataset"] = gr.Textbox(value=d["eval_dataset"], label="Validation set (another set or file; empty = "
                                       "the validation split)", elem_id="st-eval-dataset")
        w["eval_split"] = gr.Textbox(value=d["eval_split"], label="Validation split", elem_id="st-eval-split")
        w["task"] = gr.Dropdown(list(TASKS), value=d["task"], label="Task", elem_id="st-task")
        w["method"] = gr.Dropdown(list(METHODS), value=d["method"], label="Method", elem_id="st-method")
    with gr.Row():
        w["max_steps"] = gr.Number(value=d["max_steps"], precision=0, label="Max steps per run (full length)",
                                   elem_id="st-max-steps")
        w["batch_size"] = gr.Number(value=d["batch_size"], precision=0, label="Batch size", elem_id="st-batch-size")
        w["learning_rate"] = gr.Number(value=d["learning_rate"], label="Learning rate (when not searched)",
                                       elem_id="st-learning-rate")
        w["max_length"] = gr.Number(value=d["max_length"], precision=0, label="Max length (tokens)",
                                    elem_id="st-max-length")
        w["eval_every"] = gr.Number(value=d["eval_every"], precision=0, label="Evaluate every N steps",
                                    elem_id="st-eval-every")
        w["limit"] = gr.Number(value=d["limit"], precision=0, label="Training examples (0 = all)",
                               elem_id="st-limit")
        w["seed"] = gr.Number(value=d["seed"], precision=0, label="Seed", elem_id="st-seed")


def _search_fields(w: dict):
    """A search's space, protocol, sampler, pruner and budget; the group shown for "search"."""
    import gradio as gr

    d = FORM_DEFAULTS
    with gr.Group(visible=True) as search_box:
        gr.Markdown(strings.STUDY_SEARCH_HELP)
        with gr.Row():
            w["space"] = gr.Code(value=d["space"], language="yaml", label="Search space (YAML)",
                                 elem_id="st-space", scale=3)
            with gr.Column(scale=2):
                w["protocol"] = gr.Dropdown(list(PROTOCOLS), value=d["protocol"], label="Protocol",
                                            elem_id="st-protocol")
                w["sampler"] = gr.Dropdown(list(SAMPLERS), value=d["sampler"], label="Sampler", elem_id="st-sampler")
                w["pruner"] = gr.Dropdown(list(PRUNERS), value=d["pruner"], label="Pruner", elem_id="st-pruner")
        with gr.Row():
            w["trials"] = gr.Number(value=d["trials"], precision=0, label="Trials (phase 1)", elem_id="st-trials")
            w["trial_steps"] = gr.Number(value=d["trial_steps"], precision=0, label="Steps per trial",
                                         elem_id="st-trial-steps")
            w["top_k"] = gr.Number(value=d["top_k"], precision=0, label="Full-length runs of the best (top k)",
                                   elem_id="st-top-k")
            w["min_resource"] = gr.Number(value=d["min_resource"], precision=0,
                                          label="Min resource (evaluations before pruning)", elem_id="st-min-resource")
            w["reduction_factor"] = gr.Number(value=d["reduction_factor"], precision=0, label="Reduction factor",
                                              elem_id="st-reduction-factor")
            w["patience"] = gr.Number(value=d["patience"], precision=0, label="Patience (patience pruner)",
                                      elem_id="st-patience")
        with gr.Row():
            w["early_fraction"] = gr.Number(value=d["early_fraction"], label="Early fraction (early-score)",
                                            elem_id="st-early-fraction")
            w["verify_all"] = gr.Checkbox(value=d["verify_all"], label="Early-score: train every trial to the end",
                                          elem_id="st-verify-all")
            w["objective"] = gr.Textbox(value=d["objective"], label="Objective (a validation metric)",
                                        elem_id="st-objective")
            w["direction"] = gr.Dropdown(list(DIRECTIONS), value=d["direction"], label="Direction",
                                         elem_id="st-direction")
            w["storage"] = gr.Textbox(value=d["storage"], label="Storage (empty = a journal file in the run folder; "
                                      "or an RDB URL)", elem_id="st-storage")
    return search_box


def _study_fields(w: dict):
    """The studies' own knobs; the group shown for any study."""
    import gradio as gr

    d = FORM_DEFAULTS
    with gr.Group(visible=False) as study_box:
        gr.Markdown(strings.STUDY_STUDY_HELP)
        with gr.Row():
            w["metric"] = gr.Textbox(value=d["metric"], label="Primary metric", elem_id="st-metric")
            w["ranks"] = gr.Textbox(value=d["ranks"], label="Ranks (LoRA-rank study)", elem_id="st-ranks")
            w["alpha_k"] = gr.Number(value=d["alpha_k"], label="Alpha = k × rank", elem_id="st-alpha-k")
            w["intrinsic"] = gr.Dropdown(["max", "mean"], value=d["intrinsic"], label="Intrinsic rank from",
                                         elem_id="st-intrinsic")
            w["intrinsic_examples"] = gr.Number(value=d["intrinsic_examples"], precision=0,
                                                label="Intrinsic-dimension examples", elem_id="st-intrinsic-examples")
        with gr.Row():
            w["benchmark"] = gr.Textbox(value=d["benchmark"], label="Benchmark that scores each run (optional)",
                                        elem_id="st-benchmark")
            w["benchmark_limit"] = gr.Number(value=d["benchmark_limit"], precision=0, label="Benchmark limit",
                                             elem_id="st-benchmark-limit")
            w["methods"] = gr.Dropdown(list(METHODS), value=d["methods"], multiselect=True,
                                       label="Methods (method comparison)", elem_id="st-methods")
            w["selections"] = gr.Dropdown(list(SELECTIONS), value=d["selections"], multiselect=True,
                                          label="Data selections (method comparison)", elem_id="st-selections")
        with gr.Row():
            w["sizes"] = gr.Textbox(value=d["sizes"], label="Training sizes (data efficiency)", elem_id="st-sizes")
            w["epsilon"] = gr.Number(value=d["epsilon"], label="Saturation epsilon", elem_id="st-epsilon")
            w["pool"] = gr.Textbox(value=d["pool"], label="Candidate pool (data selection: a set or file)",
                                   elem_id="st-pool")
            w["select_rule"] = gr.Dropdown(["positive", "top-k"], value=d["select_rule"], label="Select",
                                           elem_id="st-select-rule")
            w["select_k"] = gr.Number(value=d["select_k"], precision=0, label="Top k (0 = all positive)",
                                      elem_id="st-select-k")
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

    w: dict = {}
    _base_fields(w)
    search_box = _search_fields(w)
    study_box = _study_fields(w)
    assert list(w) == FIELDS
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

        from ui import finetune_tab

        return {self.base_model: gr.update(choices=finetune_tab.base_model_choices())}


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

    from ui import finetune_tab

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
            path = finetune_tab.upload_dataset(temp_path)
        except finetune_tab.InputProblem as exc:
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
