"""Evaluate tab: pick models and benchmarks, start an evaluation job, watch it, cancel it, re-attach after a reload.

The job is a child process (jobs.start → `python -m evaluation run`), so the page only tails its events.jsonl
and reads the store. The logic lives in plain functions (start_evaluation, run_view, cancel_run, run_choices)
that tests call without Gradio; build() only wires them to components.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from evaluation.progress import EvalProgress
from ui import evaluate_custom, job_tab, strings
from ui.job_tab import InputProblem, config_path, readable

KIND = "evaluation"  # jobs kind; the CLI registers its own runs under the same kind
MODULE = "evaluation"  # python -m evaluation run --config ...
DESCRIPTION_CHARS = 90
RESULT_COLUMNS = ["model", "benchmark", "variant", "items", "metrics", "leaderboard row"]


TEXTS = job_tab.JobTexts(strings.EVAL_NO_RUN, strings.EVAL_UNKNOWN_RUN, strings.EVAL_ALREADY_FINISHED,
                         strings.EVAL_CANCELLED)


@dataclass
class Started:
    run_id: str
    config_yaml: str
    command: str


# -- choices --------------------------------------------------------------------------------------------------
def benchmark_choices() -> tuple[list[tuple[str, str]], list[str]]:
    """(label, name) for each benchmark that can run here, and why each of the others cannot."""
    from evaluation import benchmark as benchmarks

    offered, missing = [], []
    for name in benchmarks.names():
        try:
            bench = benchmarks.load(name)
        except benchmarks.BenchmarkError as exc:
            missing.append(str(exc))
            continue
        why = bench.availability()
        if why:
            missing.append(why)
            continue
        text = bench.description if len(bench.description) <= DESCRIPTION_CHARS else \
            bench.description[:DESCRIPTION_CHARS].rstrip() + " …"
        offered.append((f"{name}: {text}" if text else name, name))
    return offered, missing


def unavailable_note(missing: list[str]) -> str:
    return f"_{strings.EVAL_UNAVAILABLE.format(reasons='; '.join(missing))}_" if missing else ""


def variant_choices(benchmark_names: list[str] | None) -> list[str]:
    """Prompt variants of the chosen benchmarks (union, in file order); empty means each benchmark runs all."""
    from evaluation import benchmark as benchmarks

    seen: list[str] = []
    for name in benchmark_names or []:
        try:
            seen += [v for v in benchmarks.load(name).variant_names() if v not in seen]
        except benchmarks.BenchmarkError:
            continue
    return seen if seen != ["default"] else []


def model_choices() -> list[str]:
    from models.catalog import available_models

    return available_models(heads=True)  # head runs score label and number benchmarks (head mode)


# -- starting ---------------------------------------------------------------------------------------------------
def _whole(value, message: str) -> int:
    if value is None or value == "":
        raise InputProblem(message.format(value="nothing"))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputProblem(message.format(value=repr(value)))
    if number != int(number):
        raise InputProblem(message.format(value=value))
    return int(number)


def _names(values) -> list[str]:
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values or []:
        v = str(v).strip()
        if v and v not in out:
            out.append(v)
    return out


def make_config(models, benchmark_names, limit=0, batch_size=8, judge: str | None = None, variants=None):
    """An EvalConfig from the form, or InputProblem with a sentence saying what to fix."""
    from evaluation import benchmark as benchmarks
    from evaluation.config import ConfigError, EvalConfig
    from models.errors import ModelError
    from models.registry import parse

    models, benchmark_names, variants = _names(models), _names(benchmark_names), _names(variants)
    judge = (judge or "").strip() or None
    if not models:
        raise InputProblem(strings.EVAL_NO_MODEL)
    if not benchmark_names:
        raise InputProblem(strings.EVAL_NO_BENCHMARK)
    limit = _whole(0 if limit in (None, "") else limit, strings.EVAL_BAD_LIMIT)
    if limit < 0:
        raise InputProblem(strings.EVAL_BAD_LIMIT.format(value=limit))
    batch_size = _whole(batch_size, strings.EVAL_BAD_BATCH)
    if batch_size < 1:
        raise InputProblem(strings.EVAL_BAD_BATCH.format(value=batch_size))
    for ref in models + ([judge] if judge else []):
        try:
            parse(ref)
        except ModelError as exc:
            raise InputProblem(str(exc))
    known = benchmarks.names()
    for name in benchmark_names:
        if name not in known:
            raise InputProblem(strings.EVAL_UNKNOWN_BENCHMARK.format(name=name, known=", ".join(known)))
        try:
            bench = benchmarks.load(name)
        except benchmarks.BenchmarkError as exc:
            raise InputProblem(str(exc))
        why = bench.availability()
        if why:
            raise InputProblem(why)
        for variant in variants:
            if variant not in bench.variant_names():
                raise InputProblem(strings.EVAL_BAD_VARIANT.format(bench=name, variant=variant,
                                                                   known=", ".join(bench.variant_names())))
    try:
        return EvalConfig(models=models, benchmarks=benchmark_names, limit=limit or None, batch_size=batch_size,
                          variants=variants or None, judge=judge)
    except ConfigError as exc:
        raise InputProblem(str(exc))


def start_evaluation(models, benchmark_names, limit=0, batch_size=8, judge: str | None = None,
                     variants=None) -> Started:
    """Validate, then start the job; nothing starts (no run folder, no store row) when the input is wrong."""
    import jobs

    config = make_config(models, benchmark_names, limit, batch_size, judge, variants)
    title = ", ".join(config.models) + " on " + ", ".join(config.benchmarks)
    run_id = jobs.start(KIND, dataclasses.asdict(config), MODULE, title=title)
    return Started(run_id, config.to_yaml(), config.command(str(config_path(run_id))))


def run_config(run_id: str) -> tuple[str, str]:
    """The run's config.yaml and the command that replays it ('' when the file is gone)."""
    from evaluation.config import ConfigError, EvalConfig

    path = config_path(run_id)
    try:
        text = path.read_text(encoding="utf-8")
        return text, EvalConfig.from_yaml(path).command(str(path))
    except OSError:
        return "", ""
    except ConfigError as exc:
        return text, f"# {exc}"


# -- leakage -----------------------------------------------------------------------------------------------------
def training_sets(model_refs, bench) -> list[tuple[str, str, str]]:
    """(what it is, data set, split) of each training set known for `bench`: the training set of every run:
    model chosen, else the benchmark data set's own train split (what a fine-tune on that set would train on)."""
    from data import catalog
    from models.errors import ModelError
    from models.run import run_config

    found: list[tuple[str, str, str]] = []
    for ref in _names(model_refs):
        if not ref.startswith("run:"):
            continue
        try:
            config = run_config(ref.partition(":")[2])
        except (ModelError, OSError):
            continue
        if config.get("dataset"):
            found.append((strings.EVAL_LEAKAGE_RUN.format(model=ref), str(config["dataset"]),
                          str(config.get("train_split") or "train")))
    if not found and bench.split != "train" and catalog.parse(bench.dataset)[0] in ("bundled", "shared"):
        try:  # a plain file has one part only: the benchmark's own items
            own = "train" in catalog.splits(bench.dataset)
        except Exception:  # noqa: BLE001 - an unreadable set has no known train split
            own = False
        if own:
            found.append((strings.EVAL_LEAKAGE_OWN.format(dataset=bench.dataset), bench.dataset, "train"))
    unique = []
    for entry in found:
        if entry[1:] not in [u[1:] for u in unique]:
            unique.append(entry)
    return unique


def leakage_report(model_refs, benchmark_names) -> str:
    """Markdown: each chosen benchmark's test items against each known training set (data.leakage), so a score
    is read together with how much of the test set the model has already seen."""
    from data import leakage
    from data.records import DataError
    from evaluation import benchmark as benchmarks

    names = _names(benchmark_names)
    if not names:
        raise InputProblem(strings.EVAL_NO_BENCHMARK)
    sections = []
    for name in names:
        try:
            bench = benchmarks.load(name)
        except benchmarks.BenchmarkError as exc:
            sections.append(f"**{name}**: {exc}")
            continue
        trains = training_sets(model_refs, bench)
        if not trains:
            sections.append(strings.EVAL_LEAKAGE_NONE.format(bench=name, dataset=bench.dataset))
        for what, dataset, split in trains:
            try:
                report = leakage.report_of(dataset, bench.dataset, train_split=split, test_split=bench.split)
            except (DataError, OSError) as exc:
                sections.append(f"**{name}** against {what}: {readable(exc)}")
                continue
            sections.append(f"**{name}** ({bench.dataset} {bench.split}) against {what}:\n\n{report.markdown()}")
    return "\n\n".join(sections)


# -- watching ---------------------------------------------------------------------------------------------------
class RunView(EvalProgress):
    """What the Evaluate tab shows of a run: its progress (evaluation.progress), rendered."""

    @property
    def results(self) -> list[list]:
        return [[r.get("model"), r.get("benchmark"), r.get("variant"), r.get("items"),
                 format_metrics(r.get("metrics") or {}), r.get("leaderboard_id")] for r in self.scored]

    @property
    def notes_markdown(self) -> str:
        """What a score needs beside it: the QuestEval judge's sanity (self vs an unrelated reference), flagged when
        the judge cannot tell them apart, so nobody reads a meaningless judge score as a result."""
        lines = []
        for r in self.scored:
            details = r.get("details") or {}
            sanity = details.get("questeval_judge_sanity")
            where = f"{r.get('model')} on {r.get('benchmark')} ({r.get('variant')})"
            if details.get("questeval_judge_warning"):
                lines.append(f"- ⚠️ {where}: {strings.EVAL_JUDGE_WARNING.format(why=details['questeval_judge_warning'])}")
            elif sanity and sanity.get("gap") is not None:
                lines.append(f"- {where}: {strings.EVAL_JUDGE_SANE.format(**sanity)}")
        return "\n".join(lines)

    @property
    def status_markdown(self) -> str:
        text = strings.EVAL_RUN_STATUS.get(self.status, "Status: **{status}**")
        return f"{text.format(results=len(self.results), error=self.error or 'no reason given', status=self.status)}" \
               f"  \n`{self.run_id}`"

    @property
    def progress_markdown(self) -> str:
        """One line per (model, benchmark, variant): items done/total, items/s, ETA and what it is doing."""
        if not self.tasks:
            return "" if self.finished else "_Starting the job …_"
        lines = ["| model | benchmark | variant | items | items/s | ETA | state |", "|---|---|---|---|---|---|---|"]
        for (model, bench), task in self.tasks.items():
            variants = task["variants"] or {"—": None}
            for name, p in variants.items():
                state = p["state"] if p else _task_state(task)
                if not p:
                    items, rate, eta = "—", "—", "—"
                else:
                    items = f"{p['done']}/{p['total']}"
                    rate = _rate(p.get("items_per_s"))
                    eta = _duration(p.get("eta_s")) if p["state"] == "generating" else "—"
                if task.get("resumed") is not None:
                    state += f" (resumed: {task['resumed']} items were already done)"
                lines.append(f"| {_cell(model)} | {_cell(bench)} | {_cell(name)} | {items} | {rate} | {eta} | "
                             f"{_cell(state)} |")
        return "\n".join(lines)


def _task_state(task: dict) -> str:
    return {"loading": strings.EVAL_LOADING, "skipped": f"skipped: {task.get('reason', '')}"}.get(task["state"],
                                                                                                 task["state"])


def format_metrics(metrics: dict) -> str:
    """'accuracy ↑ 0.500 · unparseable ↓ 0.000': the arrows say which way is better."""
    from evaluation.leaderboard import column_title

    parts = []
    for key, value in metrics.items():
        shown = "n/a" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
        parts.append(f"{column_title(key)} {shown}")
    return " · ".join(parts)


def _rate(value) -> str:
    if not value:
        return "—"
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}"


def _duration(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(float(seconds)))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def run_view(run_id: str, offset: int = 0, view: RunView | None = None) -> RunView:
    """The run's progress, results and status: events after `offset` applied to `view` (a fresh view from 0
    replays the whole file, which is how a reloaded page re-attaches). Raises InputProblem for an unknown run."""
    import jobs

    if view is None or view.run_id != run_id or offset == 0:
        view, offset = RunView(run_id), 0
    run = job_tab.active_run(run_id, None, TEXTS)
    before = job_tab.apply_new_events(view, run, offset)
    if run.status in jobs.TERMINAL and not view.finished:  # a status recorded only in the store
        view.status, view.error = run.status, view.error or run.error
    elif view.status == "queued":  # the child has not written its first event yet
        view.status = run.status
    view.changed = (view.offset, view.status) != before or offset == 0
    return view


def cancel_run(run_id: str | None) -> str:
    """Kill the run's process tree; the leaderboard keeps only (model, benchmark) pairs that had finished."""
    return job_tab.cancel_run(run_id, None, TEXTS)


def run_choices() -> tuple[list[tuple[str, str]], str | None]:
    """Recent evaluation runs as (label, id), and the one to show: the latest running one, else the latest."""
    return job_tab.run_choices((KIND,))


# -- the tab ----------------------------------------------------------------------------------------------------
def build(demo=None) -> None:
    """Lay out the Evaluate tab; `demo.load` re-attaches to the latest running evaluation after a page reload."""
    import gradio as gr

    from models.builtin import DEFAULT_MODEL

    gr.Markdown(strings.EVAL_INTRO)
    bench_options, missing = benchmark_choices()
    with gr.Row():
        models = gr.Dropdown(model_choices(), value=[DEFAULT_MODEL], multiselect=True, allow_custom_value=True,
                             label="Models (several at once; type any reference, e.g. hf:local_models/x, then Enter)",
                             elem_id="eval-models", scale=2)
        benches = gr.Dropdown(bench_options, value=[], multiselect=True, label="Benchmarks",
                              elem_id="eval-benchmarks", scale=3)
    gr.Markdown(unavailable_note(missing), elem_id="eval-unavailable")
    with gr.Row():
        limit = gr.Number(value=0, precision=0, label="Limit (first N items; 0 = all)", elem_id="eval-limit")
        batch = gr.Number(value=8, precision=0, label="Batch size", elem_id="eval-batch")
        judge = gr.Textbox(label="QuestEval judge (empty = the builtin model)", placeholder=DEFAULT_MODEL,
                           elem_id="eval-judge")
        variants = gr.Dropdown([], value=[], multiselect=True, label="Prompt variants (none chosen = all)",
                               elem_id="eval-variants")
    with gr.Row():
        start = gr.Button("Start evaluation", variant="primary", elem_id="eval-start")
        cancel = gr.Button("Cancel", variant="stop", elem_id="eval-cancel")
    message = gr.Markdown(elem_id="eval-message")
    evaluate_custom.build(benches, benchmark_choices)
    status = progress = results = None  # laid out below the picker

    def show(view: RunView, fresh: bool = False, unchanged: bool = False) -> dict:
        import pandas as pd

        if unchanged:
            return {}
        return {status: view.status_markdown, progress: view.progress_markdown,
                results: pd.DataFrame(view.results, columns=RESULT_COLUMNS), notes: view.notes_markdown}

    def clear(text: str, keep: bool = False) -> dict:
        return {status: text} if keep else {status: text, progress: "", results: None, notes: ""}

    panel = job_tab.JobPanel(owner=__name__, prefix="eval", kinds=(KIND,), texts=TEXTS, cancel=cancel_run,
                             run_label="Run (recent evaluations; pick one to watch)", view_of=run_view,
                             config_of=run_config, show=show, clear=clear)
    panel.picker()
    status = gr.Markdown(elem_id="eval-status")
    progress = gr.Markdown(elem_id="eval-progress")
    results = gr.Dataframe(headers=RESULT_COLUMNS, label="Results", interactive=False, wrap=True,
                           column_widths=["16%", "12%", "9%", "6%", "47%", "10%"], elem_id="eval-results")
    notes = gr.Markdown(elem_id="eval-notes")
    panel.config_box("The same evaluation from a shell")
    with gr.Accordion("Leakage: how much of each benchmark the training data already holds", open=False):
        gr.Markdown(strings.EVAL_LEAKAGE_INTRO)
        leak_button = gr.Button("Leakage report for the chosen models and benchmarks", elem_id="eval-leakage")
        leak_report = gr.Markdown(elem_id="eval-leakage-report")

    def on_start(model_refs, bench_names, limit_value, batch_value, judge_ref, variant_names):
        try:
            started = start_evaluation(model_refs, bench_names, limit_value, batch_value, judge_ref, variant_names)
        except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
            return {message: f"**{strings.ERROR_PREFIX}{readable(exc)}**"}
        return panel.after(started.run_id, message, f"Started `{started.run_id}`.")

    def on_benchmarks(bench_names, chosen):
        names = variant_choices(bench_names)
        return gr.update(choices=names, value=[v for v in chosen or [] if v in names])

    def on_leakage(model_refs, bench_names):
        try:
            return {leak_report: leakage_report(model_refs, bench_names)}
        except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
            return {leak_report: f"**{strings.ERROR_PREFIX}{readable(exc)}**"}

    panel.wire(demo, shown=[status, progress, results, notes], message=message, cancel=cancel)
    leak_button.click(on_leakage, [models, benches], [leak_report], concurrency_limit=2)
    benches.change(on_benchmarks, [benches, variants], variants, queue=False)
    start.click(on_start, [models, benches, limit, batch, judge, variants], panel.outputs_with(message),
                concurrency_limit=4)
