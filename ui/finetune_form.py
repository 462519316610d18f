"""The Fine-tune tab's form, as plain functions tests call without Gradio: which config fields the form shows and
where (each input's label, id, kind, default and limits are its field's metadata in training.config, the method
settings those of the registered methods), the form's values → a TrainConfig (make_config), the check
(training.preflight: the data, the method, the targets; the planned steps and a time estimate from earlier runs),
starting the job (`python -m training run ...`), a run's config.yaml with the command that replays it, and the
base models and data sets to pick from. Nothing here imports torch or Gradio at start-up: checking a config does,
when the user asks for it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ui import strings
from ui.job_tab import InputProblem, config_path

KIND = "training"  # jobs kind; the CLI registers its own runs under the same kind
MODULE = "training"  # python -m training run --config ... --run-dir ...
TRAINABLE_SCHEMES = ("builtin", "hf", "run")
DEFAULT_DATASET = "bundled:drug-qa"

# The form's layout: which config fields sit in which row of which group. Everything else about an input (its
# label, elem_id, kind, default and limits) is its field's metadata in training.config; the method settings are
# those of the registered methods (training.methods), four to a row.
TRAINING_ROWS = (("epochs", "max_steps", "batch_size", "grad_accum", "learning_rate", "schedule"),
                 ("warmup_ratio", "max_length", "batching", "precision", "gradient_checkpointing", "limit"),
                 ("eval_split", "eval_dataset", "eval_every", "early_stopping_patience", "early_stopping_min_delta"),
                 ("save_every", "keep_checkpoints", "seed", "report_to"))
TASK_OPTIONS = ("input_field", "labels", "assistant_only_loss", "objective", "text_field")
SETTINGS_PER_ROW = 4
EXPLICIT = ("base_model", "dataset", "targets", "eval_split", "eval_dataset", "evaluate")  # make_config's own cases


def method_settings() -> list[str]:
    """The method settings on the form (rank, alpha ..., targets ...): every registered method's, by field name."""
    from config_loader import field_info
    from training import config

    return [name for name in field_info(config.MethodConfig) if name != "name"]


def task_settings() -> dict[str, tuple[str, str]]:
    """The task settings on the form (preference beta, GRPO rewards ...): input name `<section>_<field>` ->
    (config section, field), for every settings section of the task registry (training.config.task_sections)."""
    from config_loader import field_info
    from training.config import task_sections

    return {f"{section}_{name}": (section, name)
            for section, cls in task_sections().items() for name in field_info(cls)}


def _task_setting_info(section: str, name: str):
    """A section field's metadata under its form name (elem_id ft-<section>-<field> unless the field names one)."""
    import dataclasses

    from config_loader import field_info
    from training.config import task_sections

    info = field_info(task_sections()[section])[name]
    own_id = info.form_id if info.form_id != name.replace("_", "-") else f"{section}-{info.form_id}"
    return dataclasses.replace(info, name=f"{section}_{name}", form_id=own_id)


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
    for name in [*(n for row in TRAINING_ROWS for n in row), *TASK_OPTIONS]:
        fields[name] = train[name]
    fields.update((form_name, _task_setting_info(*where)) for form_name, where in task_settings().items())
    for name in ("evaluate", "evaluate_limit"):
        fields[name] = train[name]
    return fields


def structured(info) -> bool:
    """A list of dataclasses (GRPO's rewards): typed on the form as YAML."""
    import dataclasses
    import typing

    args = typing.get_args(info.type)
    return typing.get_origin(info.type) is list and bool(args) and dataclasses.is_dataclass(args[0])


def _yaml_text(value) -> str:
    import dataclasses

    import yaml

    if not value:
        return ""
    plain = [{k: v for k, v in dataclasses.asdict(item).items() if v is not None} for item in value]
    return yaml.safe_dump(plain, sort_keys=False, default_flow_style=None).strip()


def form_defaults() -> dict:
    """Every form input with its default, in the order the page passes them: the config's defaults, with 0 or an
    empty text where the config has "not set" (None); the dataset and the upload box are the form's own."""
    out = {}
    for name, info in form_fields().items():
        out[name] = (0 if info.number else "") if info.default is None else info.default
        if structured(info):  # a list of settings (GRPO's rewards): a YAML text box
            out[name] = _yaml_text(info.default)
        if name == "dataset":
            out["dataset"], out["upload"] = DEFAULT_DATASET, None
    return out


FORM_DEFAULTS: dict = form_defaults()  # as the methods were registered at import
FIELDS = list(FORM_DEFAULTS)
LABELS = {name: info.short for name, info in form_fields().items()}  # what sentences call each field


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
    if info.choices is not None and typing.get_origin(info.type) is not list:
        return _text(form, name)
    if structured(info):
        return _yaml_value(form, name, info)
    if typing.get_origin(info.type) is list:
        return _names(form.get(name)) or (None if info.optional else [])
    return _text(form, name) or info.default


def _yaml_value(form: dict, name: str, info) -> list:
    """A YAML list typed in a text box (e.g. [{metric: smiles_validity, weight: 0.5}]), or InputProblem naming
    the field; the config checks each entry's fields."""
    import yaml

    text = form.get(name)
    if text is None or (isinstance(text, str) and not text.strip()):
        return []
    if not isinstance(text, str):
        return list(text)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise InputProblem(strings.FT_BAD_YAML.format(label=info.label, name=name, where=where)) from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise InputProblem(strings.FT_BAD_YAML.format(label=info.label, name=name, where=""))
    return value


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


def filled(form: dict | None, fields: dict, defaults: dict) -> dict:
    """A form's values over its defaults; a field the form does not have is refused by name (Fine-tune, Studies)."""
    form = {**defaults, **(form or {}), **fields}
    unknown = [k for k in form if k not in defaults]
    if unknown:
        raise InputProblem(f"Unknown form field(s): {', '.join(unknown)}")
    return form


def make_config(form: dict | None = None, **fields):
    """A TrainConfig from the form's values (a dict keyed like FORM_DEFAULTS, or keywords), or InputProblem with a
    sentence naming the field. Cheap: no model, no data is read (check_config does that)."""
    from models.errors import ModelError
    from models.registry import parse
    from training.config import ConfigError, TrainConfig

    infos, form = form_fields(), filled(form, fields, form_defaults())
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
    sections: dict[str, dict] = {}
    for form_name, (section, name) in task_settings().items():
        sections.setdefault(section, {})[name] = values.pop(form_name)
    from training.tasks import TASKS

    own = TASKS[values["task"]].section if values.get("task") in TASKS else None
    if own:  # only the chosen task's section: the others would be defaults the config does not keep
        values[own] = sections[own]
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


def _duration(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(float(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


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



# -- what to pick from: base models, data sets -------------------------------------------------------------
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
