"""Fine-tune tab: build a training config from the form, check it, start it as a job, watch it (live loss, learning
rate and gradient-norm plots, tokens/s, ETA, memory), cancel, resume, export and read the model card.

The job is a child process (jobs.start → `python -m training run --config ...`), so the page only tails its
events.jsonl and reads the store; a reloaded page re-attaches. The logic lives in plain functions (make_config,
check_config, start_training, run_view, cancel_run, resume_run, run_files, queue_rows ...) that tests call without
Gradio; build() only wires them to components. Nothing here imports torch at start-up: checking a config does,
when the user asks for it.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from training.progress import TrainProgress
from ui import job_tab, strings
from ui.job_tab import InputProblem, config_path, readable

KIND = "training"  # jobs kind; the CLI registers its own runs under the same kind
MODULE = "training"  # python -m training run --config ... --run-dir ...
TRAINABLE_SCHEMES = ("builtin", "hf", "run")
MAX_PLOT_POINTS = 1500  # longer curves are thinned (evenly, the last point kept) before they go to the browser
EVAL_COLUMNS = ["benchmark", "variant", "items", "metrics", "leaderboard row"]
QUEUE_COLUMNS = ["run", "status", "position", "what"]
FILE_COLUMNS = ["file", "size"]
DEFAULT_DATASET = "bundled:drug-qa"

# The form's layout: which config fields sit in which row of which group. Everything else about an input (its
# label, elem_id, kind, default and limits) is its field's metadata in training.config; the method settings are
# those of the registered methods (training.methods), four to a row.
TRAINING_ROWS = (("epochs", "max_steps", "batch_size", "grad_accum", "learning_rate", "schedule"),
                 ("warmup_ratio", "max_length", "batching", "precision", "gradient_checkpointing", "limit"),
                 ("eval_split", "eval_dataset", "eval_every", "early_stopping_patience", "early_stopping_min_delta"),
                 ("save_every", "keep_checkpoints", "seed"))
TASK_OPTIONS = ("input_field", "labels", "assistant_only_loss", "objective", "text_field")
SETTINGS_PER_ROW = 4
EXPLICIT = ("base_model", "dataset", "targets", "eval_split", "eval_dataset", "evaluate")  # make_config's own cases


def method_settings() -> list[str]:
    """The method settings on the form (rank, alpha ..., targets ...): every registered method's, by field name."""
    from config_loader import field_info
    from training import config

    return [name for name in field_info(config.MethodConfig) if name != "name"]


def form_fields() -> dict:
    """Every form input that is a config field, in the page's order, with its metadata (config_loader.FieldInfo).
    The method's name is the input `method`; its settings go by their own names. Read when called, so a method
    registered later (a test's) has its inputs too."""
    from config_loader import field_info
    from training import config

    train, settings = field_info(config.TrainConfig), method_settings()
    clash = [name for name in settings if name in train or name in ("method", "upload")]
    if clash:
        raise TypeError(f"method setting(s) {', '.join(clash)} share a name with a training-config field; the "
                        "Fine-tune form keys its inputs by name, so rename them.")
    method = field_info(config.MethodConfig)
    fields = {"base_model": train["base_model"], "dataset": train["dataset"], "task": train["task"],
              "method": method["name"]}
    fields.update((name, method[name]) for name in settings)
    for name in [*(n for row in TRAINING_ROWS for n in row), *TASK_OPTIONS, "evaluate", "evaluate_limit"]:
        fields[name] = train[name]
    return fields


def form_defaults() -> dict:
    """Every form input with its default, in the order the page passes them: the config's defaults, with 0 or an
    empty text where the config has "not set" (None); the dataset and the upload box are the form's own."""
    out = {}
    for name, info in form_fields().items():
        out[name] = (0 if info.number else "") if info.default is None else info.default
        if name == "dataset":
            out["dataset"], out["upload"] = DEFAULT_DATASET, None
    return out


FORM_DEFAULTS: dict = form_defaults()  # as the methods were registered at import
FIELDS = list(FORM_DEFAULTS)
LABELS = {name: info.short for name, info in form_fields().items()}  # what sentences call each field

TEXTS = job_tab.JobTexts(strings.FT_NO_RUN, strings.FT_UNKNOWN_RUN, strings.FT_ALREADY_FINISHED, strings.FT_CANCELLED)


@dataclass
class Checked:
    config: object  # TrainConfig
    lines: list[str]  # what training.preflight.check found (examples, targets)
    examples: int
    steps: int
    steps_markdown: str
    time_markdown: str
    config_yaml: str
    command: str

    @property
    def markdown(self) -> str:
        found = "".join(f"\n- {line}" for line in self.lines)
        return f"**{strings.FT_CHECK_OK}**{found}\n- {self.steps_markdown}\n- {self.time_markdown}"


@dataclass
class Started:
    run_id: str
    config_yaml: str
    command: str
    checked: Checked


# -- the form → a TrainConfig --------------------------------------------------------------------------------------
def _number(form: dict, name: str, info):
    """A number box's value as its field's type, or InputProblem naming the box. Whether it is whole, whether 0 or
    empty means "not set", and the lower limit come from the field's metadata: the form checks an inclusive lower
    limit (or, where 0 means not set, the bound a set value must pass), the config's check the rest in its words."""
    value = form.get(name)
    label, whole, zero_is_none = info.short, info.whole, info.zero_is_none
    minimum = info.minimum if info.minimum is not None else (info.exclusive_minimum if zero_is_none else None)
    if value is None or (isinstance(value, str) and not value.strip()):
        if zero_is_none:
            return None
        raise InputProblem((strings.FT_BAD_WHOLE if whole else strings.FT_BAD_NUMBER).format(
            label=label, name=name, value="nothing", minimum=_at_least(minimum)))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputProblem((strings.FT_BAD_WHOLE if whole else strings.FT_BAD_NUMBER).format(
            label=label, name=name, value=repr(value), minimum=_at_least(minimum))) from None
    message = strings.FT_BAD_WHOLE if whole else strings.FT_BAD_NUMBER
    if number != number or number in (float("inf"), float("-inf")):
        raise InputProblem(message.format(label=label, name=name, value=value, minimum=_at_least(minimum)))
    if zero_is_none and number == 0:
        return None
    if (whole and number != int(number)) or (minimum is not None and number < minimum):
        raise InputProblem(message.format(label=label, name=name, value=value, minimum=_at_least(minimum)))
    return int(number) if whole else number


def _value(form: dict, name: str, info):
    """A form input as its field's value: numbers through _number, check boxes as true/false, a list from a
    comma-separated text, a choice as picked (the config names a wrong one), other text stripped or the default."""
    import typing

    if info.number:
        return _number(form, name, info)
    if info.type is bool:
        return bool(form.get(name))
    if info.choices is not None:
        return _text(form, name)
    if typing.get_origin(info.type) is list:
        return _names(form.get(name)) or (None if info.optional else [])
    return _text(form, name) or info.default


def _at_least(minimum) -> str:
    return "" if minimum is None else f" of at least {minimum:g}"


def _text(form: dict, name: str) -> str:
    return str(form.get(name) or "").strip()


def _names(values) -> list[str]:
    if isinstance(values, str):
        values = values.split(",")
    out: list[str] = []
    for v in values or []:
        v = str(v).strip()
        if v and v not in out:
            out.append(v)
    return out


def confined(ref: str, field: str) -> str:
    """A typed data set: bundled:/shared: as they are, a path only inside the folders the app reads (data.paths)."""
    from data.paths import confine_ref
    from data.records import DataError

    if not ref:
        return ref
    try:
        return confine_ref(ref, field)
    except DataError as exc:
        raise InputProblem(str(exc)) from None


def upload_dataset(temp_path: str | Path) -> str:
    """An upload copied into the app's uploads folder (size-limited, safe name: the Data tab's rules)."""
    from data.records import DataError
    from ui.data_tab import save_upload

    try:
        return str(save_upload(temp_path).resolve())
    except (DataError, OSError) as exc:
        raise InputProblem(strings.FT_UPLOAD_FAILED.format(error=exc)) from None


def make_config(form: dict | None = None, **fields):
    """A TrainConfig from the form's values (a dict keyed like FORM_DEFAULTS, or keywords), or InputProblem with a
    sentence naming the field. Cheap: no model, no data is read (check_config does that)."""
    from models.errors import ModelError
    from models.registry import parse
    from training.config import ConfigError, TrainConfig

    infos, defaults = form_fields(), form_defaults()
    form = {**defaults, **(form or {}), **fields}
    unknown = [k for k in form if k not in defaults]
    if unknown:
        raise InputProblem(f"Unknown form field(s): {', '.join(unknown)}")
    base_model = _text(form, "base_model")
    if not base_model:
        raise InputProblem(strings.FT_NO_MODEL)
    try:
        scheme, _ = parse(base_model)
    except ModelError as exc:
        raise InputProblem(f"Base model (base_model): {exc}") from None
    if scheme not in TRAINABLE_SCHEMES:
        raise InputProblem(strings.FT_NOT_TRAINABLE.format(ref=base_model))
    dataset = upload_dataset(form["upload"]) if form.get("upload") else confined(_text(form, "dataset"), "Dataset (dataset)")
    if not dataset:
        raise InputProblem(strings.FT_NO_DATA)
    evaluate = _names(form.get("evaluate"))
    if evaluate:
        from evaluation import benchmark as benchmarks

        known = benchmarks.names()
        for name in evaluate:
            if name not in known:
                raise InputProblem(strings.FT_UNKNOWN_BENCHMARK.format(name=name, known=", ".join(known)))
            why = benchmarks.load(name).availability()
            if why:
                raise InputProblem(f"Evaluate after training (evaluate): {why}")
    values = {name: _value(form, name, info) for name, info in infos.items() if name not in EXPLICIT}
    if "targets" in infos:
        targets = _text(form, "targets") or "all-linear"
        values["targets"] = targets if targets == "all-linear" else _names(targets)
    method = {"name": values.pop("method"), **{name: values.pop(name) for name in method_settings()}}
    eval_split = _text(form, "eval_split")
    spec = dict(
        values, dataset=dataset, base_model=base_model, method=method,
        eval_split=None if eval_split.lower() in ("", "none") else eval_split,
        eval_dataset=confined(_text(form, "eval_dataset"), "Validation set (eval_dataset)") or None,
        evaluate=evaluate,
    )
    try:
        return TrainConfig.from_dict(spec)
    except ConfigError as exc:
        raise InputProblem(str(exc)) from None


# -- check: validation, steps, time ------------------------------------------------------------------------------
def count_examples(report) -> int:
    """Training examples, as the check counted them (training.preflight.Report)."""
    return report.examples


def check_config(config) -> Checked:
    """training.preflight.check (data validates, the method can run here, targets match), the planned steps and a
    time estimate with its assumption. Errors become InputProblem with a readable sentence, never a traceback."""
    from data.records import DataError
    from models.errors import ModelError
    from training.preflight import check
    from training.config import ConfigError
    from training.recipe import planned_steps

    try:
        report = check(config)
        examples = count_examples(report)
    except DataError as exc:
        which = "Validation set (eval_dataset)" if config.eval_dataset and str(config.eval_dataset) in str(exc) \
            else "Dataset (dataset)"
        raise InputProblem(f"{which}: {exc}") from None
    except (ConfigError, ModelError, InputProblem) as exc:
        raise InputProblem(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - an unreadable model folder, a broken file: one sentence
        raise InputProblem(f"{type(exc).__name__}: {exc}") from None
    steps = planned_steps(config, examples)
    if config.max_steps:
        how = strings.FT_STEPS_MAX
    else:
        how = strings.FT_STEPS_EPOCHS.format(examples=examples, batch=config.batch_size, accum=config.grad_accum,
                                             epochs=float(config.epochs))
    return Checked(config, report.lines, examples, steps, strings.FT_STEPS.format(steps=steps, how=how),
                   time_estimate(config, steps), config.to_yaml(), config.command("CONFIG.yaml"))


def time_estimate(config, steps: int) -> str:
    from models.registry import parse

    from training.estimates import measured_rate

    measured = measured_rate(config)
    if measured is None:
        hint = strings.FT_TIME_BUILTIN_HINT if parse(config.base_model)[0] == "builtin" else ""
        return strings.FT_TIME_UNKNOWN.format(method=config.method.name, model=config.base_model) + hint
    per_step = int(config.batch_size) * int(config.grad_accum)
    rate = measured["rate"] * per_step / max(int(measured["batch"]) * int(measured["accum"]), 1)
    caveat = strings.FT_TIME_CAVEAT_LENGTH if int(measured["length"]) != int(config.max_length) else ""
    return strings.FT_TIME_MEASURED.format(
        total=_duration(rate * steps), rate=measured["rate"], steps=measured["steps"], run=measured["run"],
        model=config.base_model, method=config.method.name, batch=measured["batch"], accum=measured["accum"],
        length=measured["length"], examples_per_step=per_step, caveat=caveat)


def check_form(form: dict) -> Checked:
    return check_config(make_config(form))


# -- starting ---------------------------------------------------------------------------------------------------
def title_of(config) -> str:
    return f"{config.method.name} {config.task} {config.base_model} on {config.dataset}"


def start_training(form: dict | None = None, **fields) -> Started:
    """Build and check the config, then start the job; nothing starts (no run folder, no store row) when the input
    is wrong."""
    import jobs

    checked = check_config(make_config(form, **fields))
    config = checked.config
    run_id = jobs.start(KIND, config.to_dict(), MODULE, title=title_of(config), status="queued")
    path = config_path(run_id)
    return Started(run_id, config.to_yaml(), config.command(str(path)), checked)


def run_config(run_id: str) -> tuple[str, str]:
    """The run's config.yaml and the command that replays it ('' when the file is gone)."""
    from training.config import TrainConfig

    path = config_path(run_id)
    try:
        return path.read_text(encoding="utf-8"), TrainConfig.command(str(path))
    except OSError:
        return "", ""


# -- watching ---------------------------------------------------------------------------------------------------
class TrainView(TrainProgress):
    """What the Fine-tune tab shows of a run: its progress (training.progress), rendered."""

    @property
    def evaluating_progress(self) -> str:
        return f" {self.evaluating_items[0]}/{self.evaluating_items[1]}" if self.evaluating_items else ""

    # -- what the page shows ------------------------------------------------------------------------------------
    @property
    def trainable(self) -> str:
        source = {**self.setup, **{k: v for k, v in self.final.items() if v is not None}}
        params, percent, total = (source.get(k) for k in ("trainable_params", "trainable_percent", "total_params"))
        if params is None:
            return "trainable parameters unknown"
        if total is None:
            return f"{params:,} trainable parameters ({percent:g} %)"
        return strings.FT_TRAINABLE.format(params=int(params), percent=float(percent), total=int(total))

    def _resumable(self) -> str:
        if self.status not in ("failed", "cancelled"):
            return ""
        step = latest_checkpoint_step(self.run_id)
        return strings.FT_RESUMABLE.format(step=step) if step is not None else strings.FT_NOT_RESUMABLE

    @property
    def status_markdown(self) -> str:
        text = strings.FT_RUN_STATUS.get(self.status, "Status: **{status}**")
        if self.status == "queued":
            position = strings.FT_QUEUE_POSITION.format(position=self.position) if self.position else \
                strings.FT_QUEUE_WAITING
        else:
            position = ""
        phase = ""
        if self.status == "running":
            if self.evaluating:
                phase = f": evaluating {self.evaluating} on `{self.reference}` …{self.evaluating_progress}"
            elif self.train:
                phase = f": step {self.step}/{self.max_steps or '?'}"
            elif not self.setup:
                phase = ": loading the data and the model …"
            else:
                phase = ": starting the first step …"
        steps = self.final.get("steps") or self.step
        return text.format(position=position, phase=phase, steps=steps, trainable=self.trainable,
                           error=self.error or "no reason given", resumable=self._resumable(),
                           status=self.status) + f"  \n`{self.run_id}`"

    @property
    def figures_markdown(self) -> str:
        """Step x/y, loss, tokens/s, ETA, peak memory, trainable share, checkpoints and resumes."""
        if not self.train and not self.setup:
            return "" if self.finished else "_Waiting for the first step …_"
        last = self.last
        eta = "—" if self.finished or not last else _duration(last.get("eta_s"))
        loss = _float(last.get("loss"))
        latest_eval = self.evals[max(self.evals)] if self.evals else {}
        cells = [
            ("step", f"{self.step}/{self.max_steps or '?'}"),
            ("train loss", loss),
            ("eval loss", _float(latest_eval.get("eval_loss"))),
            ("tokens/s", _rate(last.get("tokens_per_s"))),
            ("ETA", eta),
            ("peak memory", f"{last['peak_memory_mb']:,.0f} MB" if last.get("peak_memory_mb") else "—"),
            ("trainable", f"{self.setup['trainable_percent']:g} %" if "trainable_percent" in self.setup else "—"),
        ]
        table = "| " + " | ".join(k for k, _ in cells) + " |\n|" + "---|" * len(cells) + "\n| " + \
                " | ".join(v for _, v in cells) + " |"
        notes = []
        if self.setup:
            notes.append(f"{self.setup.get('method')} {self.setup.get('task')} on {self.setup.get('device')} "
                         f"({self.setup.get('precision')}), {self.setup.get('train_examples')} training / "
                         f"{self.setup.get('eval_examples')} validation examples")
        extra = {k: v for k, v in latest_eval.items() if k.startswith("eval_") and k != "eval_loss"
                 and isinstance(v, (int, float))}
        if extra:
            notes.append(f"validation at step {latest_eval.get('step')}: "
                         + ", ".join(f"{k[5:]} {v:.4g}" for k, v in extra.items()))
        if self.checkpoints:
            notes.append("checkpoints at step " + ", ".join(str(s) for s in self.checkpoints[-5:]))
        for step in self.resumes:
            notes.append(f"resumed from step {step}")
        notes += [str(n) for n in self.setup.get("notes") or []]
        return table + ("\n\n" + "  \n".join(f"_{_escape(n)}_" for n in notes) if notes else "")

    def loss_frame(self):
        rows = [{"step": s, "loss": e.get("loss"), "series": "train"} for s, e in sorted(self.train.items())
                if e.get("loss") is not None]
        rows = _thin(rows)
        rows += [{"step": s, "loss": e.get("eval_loss"), "series": "eval"} for s, e in sorted(self.evals.items())
                 if e.get("eval_loss") is not None]
        return _frame(rows, ["step", "loss", "series"])

    def lr_frame(self):
        return _frame(_thin([{"step": s, "learning rate": e.get("lr")} for s, e in sorted(self.train.items())
                             if e.get("lr") is not None]), ["step", "learning rate"])

    def grad_frame(self):
        return _frame(_thin([{"step": s, "grad norm": e.get("grad_norm")} for s, e in sorted(self.train.items())
                             if e.get("grad_norm") is not None]), ["step", "grad norm"])

    @property
    def evaluation_rows(self) -> list[list]:
        rows = []
        for r in self.evaluation:
            if r.get("skipped"):
                rows.append([r.get("benchmark"), "—", 0, f"skipped: {r['skipped']}", None])
            else:
                rows.append([r.get("benchmark"), r.get("variant"), r.get("items"), _metrics_text(r.get("metrics") or {}),
                             r.get("leaderboard_id")])
        return rows

    @property
    def evaluation_markdown(self) -> str:
        return strings.FT_EVALUATION_NOTE.format(ref=self.reference) if self.evaluation or self.evaluating else ""

    @property
    def reference_markdown(self) -> str:
        if self.status != "done":
            return strings.FT_REFERENCE_LATER.format(ref=self.reference)
        if self.task in ("classification", "regression"):
            return strings.FT_REFERENCE_HEAD.format(ref=self.reference, task=self.task,
                                                    what="class" if self.task == "classification" else "number")
        return strings.FT_REFERENCE.format(ref=self.reference)


def _frame(rows: list[dict], columns: list[str]):
    import pandas as pd

    return pd.DataFrame(rows, columns=columns) if rows else None


def _thin(rows: list[dict], limit: int = MAX_PLOT_POINTS) -> list[dict]:
    if len(rows) <= limit:
        return rows
    stride = len(rows) / (limit - 1)
    kept = [rows[int(i * stride)] for i in range(limit - 1)]
    return kept + [rows[-1]]


def _metrics_text(metrics: dict) -> str:
    from ui.evaluate_tab import format_metrics

    try:
        return format_metrics(metrics)
    except Exception:  # noqa: BLE001 - a metric the registry does not know still shows its value
        return " · ".join(f"{k} {v}" for k, v in metrics.items())


def _float(value) -> str:
    return "—" if value is None else f"{float(value):.4f}"


def _rate(value) -> str:
    if not value:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def _duration(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(float(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _escape(text: str) -> str:
    return str(text).replace("_", "\\_").replace("*", "\\*")


def run_view(run_id: str, offset: int = 0, view: TrainView | None = None) -> TrainView:
    """The run's curves, figures and status: events after `offset` applied to `view` (a fresh view from 0 replays
    the whole file, which is how a reloaded page re-attaches). The status is the store's (a resumed run goes back
    from cancelled to queued there before its child writes anything). Raises InputProblem for an unknown run."""
    import jobs

    if view is None or view.run_id != run_id or offset == 0:
        view, offset = TrainView(run_id), 0
    run = job_tab.active_run(run_id, (KIND,), TEXTS)
    before = job_tab.apply_new_events(view, run, offset)
    view.status = run.status
    if run.status == "failed":
        view.error = run.error or view.error
    elif run.status not in jobs.TERMINAL:
        view.error = None  # a resumed run: its earlier failure is history
    view.changed = (view.offset, view.status) != before or offset == 0
    return view


def _checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    folder = run_dir / "checkpoints"
    found = [(int(p.name.split("-")[-1]), p) for p in folder.glob("checkpoint-*")
             if p.is_dir() and p.name.split("-")[-1].isdigit()] if folder.is_dir() else []
    return sorted(found)


def latest_checkpoint_step(run_id: str) -> int | None:
    """The step of the newest complete checkpoint of the run (None when there is none). The Trainer writes
    trainer_state.json last, so a folder without it was cut off while saving (a cancel or a crash); resume skips
    it too (training.recipe.latest_checkpoint, which also opens the weights: on the Resume click, not here, since
    that needs torch)."""
    import jobs

    run = jobs.get(run_id)
    if run is None:
        return None
    for step, path in reversed(_checkpoints(Path(run.directory))):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))["global_step"]
            return step
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


# -- actions ----------------------------------------------------------------------------------------------------
def cancel_run(run_id: str | None) -> str:
    """Kill the run's process tree; its checkpoints stay, so it can be resumed."""
    return job_tab.cancel_run(run_id, None, TEXTS)


def resume_run(run_id: str | None) -> str:
    """Start the child again with --resume for a cancelled or failed run that has a complete checkpoint."""
    import jobs
    from training.config import ConfigError
    from training.recipe import latest_checkpoint

    if not run_id:
        return strings.FT_NO_RUN
    run = jobs.poll(run_id)
    if run is None or run.kind != KIND:
        return strings.FT_UNKNOWN_RUN.format(run_id=run_id)
    if run.status == "done":
        return strings.FT_RESUME_DONE.format(run_id=run_id)
    if run.status not in jobs.TERMINAL:
        return strings.FT_RESUME_ACTIVE.format(run_id=run_id, status=run.status)
    try:
        checkpoint = latest_checkpoint(Path(run.directory))
    except ConfigError as exc:
        return strings.FT_RESUME_NO_CHECKPOINT.format(run_id=run_id, error=exc)
    jobs.launch(run_id, MODULE, extra_args=("--resume",), status="queued", restart=True)
    return strings.FT_RESUMED.format(run_id=run_id, step=checkpoint.name.split("-")[-1])


def run_files(run_id: str) -> list[list[str]]:
    """The run folder's files as [path relative to the run, size]: config, events, summary, adapter/ or model/,
    merged/, and one row per checkpoint (its total size); tensorboard/ and logs/ are summed too."""
    import jobs

    run = jobs.get(run_id)
    if run is None:
        raise InputProblem(strings.FT_UNKNOWN_RUN.format(run_id=run_id))
    folder = Path(run.directory)
    if not folder.is_dir():
        raise InputProblem(strings.FT_NO_FILES.format(folder=folder))
    rows = []
    for path in sorted(folder.iterdir(), key=lambda p: (p.is_dir(), p.name)):
        if path.name.startswith(".") or path.name == "pid":
            continue
        if path.is_file():
            rows.append([path.name, _size(path.stat().st_size)])
        elif path.name in ("adapter", "model", "merged", "evaluation"):
            rows += [[f"{path.name}/{p.relative_to(path)}", _size(p.stat().st_size)]
                     for p in sorted(path.rglob("*")) if p.is_file()]
        elif path.name == "checkpoints":
            found = sorted((p for p in path.iterdir() if p.is_dir()),
                           key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else 0)
            rows += [[f"checkpoints/{p.name}/", _size(_tree_size(p))] for p in found]
        else:
            rows.append([f"{path.name}/", _size(_tree_size(path))])
    return rows


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def model_card(run_id: str) -> str:
    """The run's model card (README.md, written beside its weights too) as markdown; its YAML front matter (the
    Hub's metadata) is shown as a YAML block, since markdown would render it as rules and a heading."""
    from training import export

    text = export.model_card(run_id).read_text(encoding="utf-8")
    if text.startswith("---\n"):
        meta, sep, body = text[4:].partition("\n---\n")
        if sep:
            return f"```yaml\n{meta}\n```\n{body}"
    return text


# A merge loads the base model, so it runs in a background thread; its state outlives the request (and a reload).
_exports: dict[str, dict] = {}
_exports_lock = threading.Lock()


def start_export(run_id: str) -> dict:
    """Start merging the run's adapter into its base (training.export.merged) unless it is already running."""
    with _exports_lock:
        state = _exports.get(run_id)
        if state and state["state"] == "running":
            return state
        state = _exports[run_id] = {"state": "running", "path": None, "error": None}

    def work():
        from models.errors import ModelError

        try:
            from training import export

            path = export.merged(run_id)
            state.update(state="done", path=str(path))
        except (ModelError, ValueError, OSError) as exc:
            state.update(state="failed", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - shown on the page, never a stack trace
            state.update(state="failed", error=f"{type(exc).__name__}: {exc}")

    threading.Thread(target=work, name=f"export-{run_id}", daemon=True).start()
    return state


def export_markdown(run_id: str | None) -> str:
    state = _exports.get(run_id or "")
    if not state:
        return ""
    if state["state"] == "running":
        return strings.FT_EXPORTING
    if state["state"] == "done":
        return strings.FT_EXPORTED.format(path=state["path"])
    return strings.FT_EXPORT_FAILED.format(error=state["error"])


def wait_export(run_id: str, timeout: float = 600) -> dict:
    deadline = time.time() + timeout
    while _exports.get(run_id, {}).get("state") == "running" and time.time() < deadline:
        time.sleep(0.2)
    return _exports.get(run_id, {})


# -- lists: runs, queue, base models -----------------------------------------------------------------------------
def _settled(runs):
    import jobs

    return [jobs.poll(r.id) if r.status not in jobs.TERMINAL else r for r in runs]


def run_choices() -> tuple[list[tuple[str, str]], str | None]:
    """Recent training runs as (label, id), and the one to show: the latest active one, else the latest."""
    return job_tab.run_choices((KIND,))


def queue_rows() -> list[list]:
    """Queued and running training runs, oldest first (the order they get the device), with queue positions."""
    import jobs

    rows = []
    for run in reversed(_settled(jobs.list_runs(KIND))):
        if run.status in jobs.TERMINAL:
            continue
        position = ""
        if run.status == "queued":
            found, _ = jobs.events(run.directory)
            queued = [e for e in found if e.get("event") == "queued"]
            position = queued[-1].get("position", "") if queued else ""
        rows.append([run.id, run.status, position, run.title or ""])
    return rows


def base_model_choices(runs: bool = True) -> list[str]:
    """The builtin models, local model folders, and (`runs`) finished training runs to train on top of."""
    from models.catalog import available_models

    refs = [r for r in available_models() if r.split(":", 1)[0] in TRAINABLE_SCHEMES]
    if runs:
        import jobs

        refs += [f"run:{r.id}" for r in jobs.list_runs(KIND) if r.status == "done"]
    return refs


def dataset_choices() -> list[tuple[str, str]]:
    from data import catalog

    return catalog.choices()


# -- the tab ----------------------------------------------------------------------------------------------------
def _input(gr, info, value, *, radio: bool = False, **layout):
    """The input for a config field: label and elem_id (ft-<form_id>) from its metadata, its kind from its type (a
    check box; a number box, precision 0 for whole numbers; a dropdown, or radio, of its choices; a text box)."""
    kwargs = dict(value=value, label=info.label, elem_id=f"ft-{info.form_id}", **layout)
    if info.type is bool:
        return gr.Checkbox(**kwargs)
    if info.number:
        return gr.Number(precision=0 if info.whole else None, **kwargs)
    if info.choices is not None:
        return (gr.Radio if radio else gr.Dropdown)(list(info.choices), **kwargs)
    if info.placeholder:
        kwargs["placeholder"] = info.placeholder
    return gr.Textbox(**kwargs)


def build(demo=None) -> None:
    """Lay out the Fine-tune tab; `demo.load` re-attaches to the latest active training run after a reload."""
    import gradio as gr

    import settings
    from ui import evaluate_tab

    fields, d = form_fields(), form_defaults()
    w: dict = {}
    gr.Markdown(strings.FT_INTRO)
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
    bench_options, missing = evaluate_tab.benchmark_choices()
    with gr.Row():
        w["evaluate"] = gr.Dropdown(bench_options, value=[], multiselect=True, label=fields["evaluate"].label,
                                    elem_id="ft-evaluate", scale=4)
        w["evaluate_limit"] = _input(gr, fields["evaluate_limit"], d["evaluate_limit"], scale=1)
    assert list(w) == FIELDS
    with gr.Row():
        check_button = gr.Button("Check", elem_id="ft-check")
        start_button = gr.Button("Start training", variant="primary", elem_id="ft-start")
    message = gr.Markdown(elem_id="ft-message")
    check_box = gr.Markdown(elem_id="ft-check-result")
    _runs(demo, w, check_button, start_button, message, check_box)


def _table(rows, columns):
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def _runs(demo, w: dict, check_button, start_button, message, check_box) -> None:
    """The runs half of the tab (ui.job_tab.JobPanel) and the form's Check/Start wiring."""
    import gradio as gr

    shown: dict = {}  # name -> component, laid out below

    def show(view: TrainView, fresh: bool = False, unchanged: bool = False) -> dict:
        if unchanged:
            return {}
        out = {shown["status"]: view.status_markdown, shown["figures"]: view.figures_markdown,
               shown["loss"]: view.loss_frame(), shown["lr"]: view.lr_frame(), shown["grad"]: view.grad_frame(),
               shown["reference"]: view.reference_markdown, shown["evaluation_note"]: view.evaluation_markdown,
               shown["evaluation"]: _table(view.evaluation_rows, EVAL_COLUMNS)}
        if fresh:
            out[shown["action"]] = export_markdown(view.run_id)
        return out

    def clear(text: str, keep: bool = False) -> dict:
        if keep:
            return {shown["status"]: text}
        return {shown["status"]: text, shown["figures"]: "", shown["loss"]: None, shown["lr"]: None,
                shown["grad"]: None, shown["reference"]: "", shown["evaluation_note"]: "",
                shown["evaluation"]: _table([], EVAL_COLUMNS), shown["action"]: ""}

    panel = job_tab.JobPanel(
        owner=__name__, prefix="ft", kinds=(KIND,), texts=TEXTS, cancel=cancel_run, idle=strings.FT_NO_RUN,
        run_label="Run (recent training runs; pick one to watch)", view_of=run_view, config_of=run_config,
        show=show, clear=clear, extras=lambda: {shown["queue"]: _table(queue_rows(), QUEUE_COLUMNS)},
        on_load_extras=lambda: {w["base_model"]: gr.update(choices=base_model_choices())})
    panel.config_box("The same training from a shell")
    gr.Markdown("### Runs")
    panel.picker()
    shown["status"] = gr.Markdown(elem_id="ft-status")
    shown["figures"] = gr.Markdown(elem_id="ft-figures")
    with gr.Row():
        shown["loss"] = gr.LinePlot(x="step", y="loss", color="series", label="Loss (train and eval)",
                                    elem_id="ft-loss-plot", height=260)
        shown["lr"] = gr.LinePlot(x="step", y="learning rate", label="Learning rate", elem_id="ft-lr-plot",
                                  height=260)
        shown["grad"] = gr.LinePlot(x="step", y="grad norm", label="Gradient norm", elem_id="ft-grad-plot",
                                    height=260)
    with gr.Row():
        cancel_button = gr.Button("Cancel", variant="stop", elem_id="ft-cancel")
        resume_button = gr.Button("Resume", elem_id="ft-resume")
        files_button = gr.Button("Files", elem_id="ft-files")
        export_button = gr.Button("Export merged model", elem_id="ft-export")
        card_button = gr.Button("Model card", elem_id="ft-card")
    shown["action"] = action = gr.Markdown(elem_id="ft-action")
    shown["reference"] = gr.Markdown(elem_id="ft-reference")
    shown["evaluation_note"] = gr.Markdown(elem_id="ft-evaluation-note")
    shown["evaluation"] = gr.Dataframe(headers=EVAL_COLUMNS, label="Evaluation after training", interactive=False,
                                       wrap=True, elem_id="ft-evaluation")
    files = gr.Dataframe(headers=FILE_COLUMNS, label="Files in the run folder", interactive=False,
                         elem_id="ft-files-list", visible=False)
    card = gr.Markdown(elem_id="ft-card-text", visible=False)
    gr.Markdown("### Training queue")
    shown["queue"] = gr.Dataframe(headers=QUEUE_COLUMNS, label="Queued and running training jobs (oldest first)",
                                  interactive=False, elem_id="ft-queue")

    def form_of(values) -> dict:
        return dict(zip(FIELDS, values))

    def on_check(*values):
        try:
            checked = check_form(form_of(values))
        except Exception as exc:  # noqa: BLE001
            return {message: f"**{strings.ERROR_PREFIX}{readable(exc)}**",
                    check_box: strings.FT_CHECK_FAILED.format(error=readable(exc))}
        return {message: "", check_box: checked.markdown, panel.config: checked.config_yaml,
                panel.command: checked.command}

    def on_start(*values):
        try:
            started = start_training(form_of(values))
        except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
            return {message: f"**{strings.ERROR_PREFIX}{readable(exc)}**",
                    check_box: strings.FT_CHECK_FAILED.format(error=readable(exc))}
        return {**panel.after(started.run_id, message, strings.FT_STARTED.format(run_id=started.run_id)),
                check_box: started.checked.markdown}

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

    def on_export(run_id):
        if not run_id:
            yield strings.FT_NO_RUN
            return
        start_export(run_id)
        yield export_markdown(run_id)
        while _exports.get(run_id, {}).get("state") == "running":
            time.sleep(0.5)
        yield export_markdown(run_id)

    def on_upload(temp_path):
        if not temp_path:
            return {}
        try:
            path = upload_dataset(temp_path)
        except InputProblem as exc:
            return {message: f"**{strings.ERROR_PREFIX}{exc}**"}
        return {w["dataset"]: gr.update(value=path), message: f"Uploaded: training reads `{path}`."}

    panel.wire(demo, shown=list(shown.values()), message=message, cancel=cancel_button,
               extra_outputs=[w["base_model"]])
    panel.action(resume_button, resume_run, message, name="on_resume", failure="The run could not be resumed: ")
    form_inputs = [w[name] for name in FIELDS]
    w["upload"].upload(on_upload, w["upload"], [w["dataset"], message])
    w["dataset"].input(lambda: None, None, w["upload"])  # a picked or typed set replaces an earlier upload
    check_button.click(on_check, form_inputs, [message, check_box, panel.config, panel.command], concurrency_limit=2)
    start_button.click(on_start, form_inputs, panel.outputs_with(message, check_box), concurrency_limit=2)
    files_button.click(on_files, panel.run, [action, files])
    card_button.click(on_card, panel.run, [action, card])
    export_button.click(on_export, panel.run, action, concurrency_limit=2)
