"""The Studies tab's form, as plain functions tests call without Gradio: the form's fields and defaults become a
SearchConfig (a hyperparameter search) or a StudyConfig (LoRA rank, method comparison, data efficiency, data
selection); check_config says whether it can run here (the base training config's own check, a validation set
that loads); start_study starts the job (`python -m training.search run ...` or `python -m training.studies run
...`) and run_config shows a run's config.yaml with the command that replays it. Nothing here imports torch,
optuna or Gradio."""
from __future__ import annotations

from dataclasses import dataclass

from training import methods
from training.studies.config import SELECTIONS
from ui import strings
from ui.job_tab import InputProblem, config_path

KINDS = ("search", "lora-rank", "method-comparison", "data-efficiency", "data-selection")
MODULES = {"search": "training.search", "study": "training.studies"}  # python -m <module> run --config ...
CLI = {"search": "python -m training search run {path}", "study": "python -m training study run {path}"}
DEFAULT_SPACE = """\
learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
method.rank: [4, 8, 16]
"""

# Every form field, in the order the page passes them, with its default.
FORM_DEFAULTS: dict = {
    "kind": "search",
    # the base training config (shared by searches and studies)
    "base_model": "builtin:smollm2-135m-instruct", "dataset": "bundled:drug-qa", "upload": None,
    "eval_dataset": "", "eval_split": "validation", "task": "sft", "method": "lora",
    "max_steps": 40, "batch_size": 4, "learning_rate": 2e-4, "max_length": 256, "eval_every": 2, "limit": 0,
    "seed": 0,
    # search
    "space": DEFAULT_SPACE, "protocol": "two-phase", "sampler": "tpe", "pruner": "successive_halving",
    "trials": 20, "trial_steps": 10, "top_k": 2, "min_resource": 1, "reduction_factor": 3, "patience": 2,
    "early_fraction": 0.2, "verify_all": False, "objective": "eval_loss", "direction": "minimize", "storage": "",
    # studies
    "metric": "eval_loss", "ranks": "1, 6, 14, 64, intrinsic", "alpha_k": 8.0, "intrinsic": "max",
    "intrinsic_examples": 200, "benchmark": "", "benchmark_limit": 20,
    "methods": methods.names(needs_cuda=False), "selections": list(SELECTIONS),
    "sizes": "50, 100, 200, 400, 800", "epsilon": 0.02, "pool": "", "select_rule": "positive", "select_k": 0,
}
FIELDS = list(FORM_DEFAULTS)
LABELS = {  # what the page calls each field (messages name both the label and the config field)
    "max_steps": "Max steps per run", "batch_size": "Batch size", "learning_rate": "Learning rate",
    "max_length": "Max length", "eval_every": "Evaluate every", "limit": "Training examples limit", "seed": "Seed",
    "trials": "Trials", "trial_steps": "Steps per trial", "top_k": "Full-length runs of the best",
    "min_resource": "Min resource", "reduction_factor": "Reduction factor", "patience": "Patience",
    "early_fraction": "Early fraction", "alpha_k": "Alpha multiplier", "intrinsic_examples": "Intrinsic examples",
    "benchmark_limit": "Benchmark limit", "epsilon": "Saturation epsilon", "select_k": "Select top k",
    "ranks": "Ranks", "sizes": "Training sizes", "space": "Search space",
}


@dataclass
class Checked:
    config: object  # SearchConfig or StudyConfig
    job_kind: str  # search | study
    lines: list[str]
    config_yaml: str
    command: str

    @property
    def markdown(self) -> str:
        return f"**{strings.STUDY_CHECK_OK}**" + "".join(f"\n- {line}" for line in self.lines)


@dataclass
class Started:
    run_id: str
    job_kind: str
    config_yaml: str
    command: str


# -- the form → a SearchConfig or StudyConfig --------------------------------------------------------------------
def _number(form: dict, name: str, *, whole: bool = False, minimum: float | None = None):
    value = form.get(name)
    label = LABELS.get(name, name)
    message = strings.FT_BAD_WHOLE if whole else strings.FT_BAD_NUMBER
    at_least = "" if minimum is None else f" of at least {minimum:g}"
    shown = "nothing" if value is None or (isinstance(value, str) and not value.strip()) else repr(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputProblem(message.format(label=label, name=name, value=shown, minimum=at_least)) from None
    if number != number or number in (float("inf"), float("-inf")) or (whole and number != int(number)) \
            or (minimum is not None and number < minimum):
        raise InputProblem(message.format(label=label, name=name, value=value, minimum=at_least))
    return int(number) if whole else number


def _text(form: dict, name: str) -> str:
    return str(form.get(name) or "").strip()


def _list(values) -> list[str]:
    if isinstance(values, str):
        values = values.split(",")
    out: list[str] = []
    for v in values or []:
        v = str(v).strip()
        if v and v not in out:
            out.append(v)
    return out


def _whole_list(form: dict, name: str, *, allowed_words: tuple[str, ...] = ()) -> list:
    """'1, 6, 14, intrinsic' → [1, 6, 14, 'intrinsic']; anything else is a sentence naming the field."""
    out = []
    for item in _list(form.get(name)):
        if item in allowed_words:
            out.append(item)
            continue
        try:
            number = float(item)
        except ValueError:
            number = None
        if number is None or number != int(number) or number < 1:
            extra = f" or {', '.join(allowed_words)}" if allowed_words else ""
            raise InputProblem(strings.STUDY_BAD_LIST.format(label=LABELS[name], name=name, item=item, extra=extra))
        out.append(int(number))
    if not out:
        raise InputProblem(strings.STUDY_EMPTY_LIST.format(label=LABELS[name], name=name))
    return out


def parse_space(text) -> dict:
    """The search space typed as YAML: {field: {type, low, high, step, log, choices} or [choices]}."""
    import yaml

    if not str(text or "").strip():
        raise InputProblem(strings.STUDY_EMPTY_SPACE)
    try:
        space = yaml.safe_load(str(text))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputProblem(strings.STUDY_BAD_SPACE_YAML.format(line=line, reason=reason)) from None
    if not isinstance(space, dict) or not space:
        raise InputProblem(strings.STUDY_SPACE_NOT_MAPPING)
    return space


def train_spec(form: dict) -> dict:
    """The base training config (a TrainConfig mapping) from the form, via the Fine-tune tab's own checks."""
    from ui import finetune_tab

    base_form = {name: form[name] for name in ("base_model", "dataset", "upload", "eval_dataset", "eval_split",
                                                "task", "method", "batch_size", "learning_rate", "max_length",
                                                "limit", "seed")}
    base_form["max_steps"] = _number(form, "max_steps", whole=True, minimum=1)
    base_form["eval_every"] = _number(form, "eval_every", whole=True, minimum=1)
    try:
        config = finetune_tab.make_config(base_form)
    except finetune_tab.InputProblem as exc:
        raise InputProblem(str(exc)) from None
    spec = config.to_dict()
    spec["tensorboard"] = False  # a search trains many short runs: their event files would only fill the disk
    return spec


def _storage(url: str) -> str:
    """An Optuna storage URL as typed; a SQLite file must lie inside the app's folders like any typed path."""
    from ui.finetune_tab import confined

    if url.startswith("sqlite:///"):
        confined(url.removeprefix("sqlite:///"), "Storage (storage)")
    return url


def make_config(form: dict | None = None, **fields):
    """A SearchConfig (kind "search") or StudyConfig (a study's name) from the form's values, or InputProblem with a
    sentence naming the field. Cheap: no model, no data is read (check_config does that)."""
    from training.config import ConfigError
    from ui.finetune_tab import confined

    form = {**FORM_DEFAULTS, **(form or {}), **fields}
    unknown = [k for k in form if k not in FORM_DEFAULTS]
    if unknown:
        raise InputProblem(f"Unknown form field(s): {', '.join(unknown)}")
    kind = _text(form, "kind")
    if kind not in KINDS:
        raise InputProblem(strings.STUDY_UNKNOWN_KIND.format(kind=kind, known=", ".join(KINDS)))
    train = train_spec(form)
    try:
        if kind == "search":
            from training.search.config import SearchConfig

            spec = dict(
                train=train, space=parse_space(form.get("space")), objective=_text(form, "objective") or "eval_loss",
                direction=_text(form, "direction") or "minimize", protocol=_text(form, "protocol"),
                sampler=_text(form, "sampler"), pruner=_text(form, "pruner"),
                min_resource=_number(form, "min_resource", whole=True, minimum=1),
                reduction_factor=_number(form, "reduction_factor", whole=True, minimum=2),
                patience=_number(form, "patience", whole=True, minimum=1),
                trials=_number(form, "trials", whole=True, minimum=1),
                trial_steps=_number(form, "trial_steps", whole=True, minimum=1),
                eval_every=_number(form, "eval_every", whole=True, minimum=1),
                top_k=_number(form, "top_k", whole=True, minimum=1),
                early_fraction=_number(form, "early_fraction"), verify_all=bool(form.get("verify_all")),
                storage=_storage(_text(form, "storage")) or None, seed=_number(form, "seed", whole=True, minimum=0),
            )
            return SearchConfig.from_dict(spec, "search config")
        from training.studies.config import StudyConfig

        select_k = _number(form, "select_k", whole=True, minimum=0)
        spec = dict(
            study=kind, train=train, metric=_text(form, "metric") or "eval_loss",
            ranks=_whole_list(form, "ranks", allowed_words=("intrinsic",)), alpha_k=_number(form, "alpha_k"),
            intrinsic=_text(form, "intrinsic") or "max",
            intrinsic_examples=_number(form, "intrinsic_examples", whole=True, minimum=1),
            benchmark=_text(form, "benchmark") or None,
            benchmark_limit=_number(form, "benchmark_limit", whole=True, minimum=1),
            methods=_list(form.get("methods")), selections=_list(form.get("selections")),
            sizes=_whole_list(form, "sizes"), epsilon=_number(form, "epsilon", minimum=0),
            pool=confined(_text(form, "pool"), "Candidate pool (pool)") or None,
            select_rule=_text(form, "select_rule") or "positive",
            select_k=select_k or None,
        )
        return StudyConfig.from_dict(spec, "study config")
    except ConfigError as exc:
        raise InputProblem(str(exc)) from None


def job_kind(config) -> str:
    return "search" if type(config).__name__ == "SearchConfig" else "study"


def command(config_or_kind, path: str = "CONFIG.yaml") -> str:
    kind = config_or_kind if isinstance(config_or_kind, str) else job_kind(config_or_kind)
    return CLI[kind].format(path=path)


def check_config(config, *, deep: bool = True) -> Checked:
    """config.check() (space, ranges, budget, sampler, pruner, a study's own knobs), a reachable storage and, with
    `deep`, the base training config's own check (the data validates, the model folder is there, the method can
    run here: the Fine-tune tab's Check). Errors become InputProblem with a readable sentence."""
    from data.records import DataError
    from models.errors import ModelError
    from training.config import ConfigError

    kind = job_kind(config)
    try:
        base = config.check()
        lines = []
        if kind == "search":
            if config.storage:
                from training.search import engine

                engine.open_storage(config.storage, None)
            per = config.full_length() if config.protocol == "early-score" else int(config.trial_steps)
            lines.append(strings.STUDY_CHECK_SEARCH.format(
                params=", ".join(config.space), trials=config.trials, steps=config.scored_steps(), per=per,
                every=config.eval_every, protocol=config.protocol, sampler=config.sampler, pruner=config.pruner,
                full=config.full_length(), top_k=config.top_k if config.protocol != "single" else 0))
        else:
            lines.append(strings.STUDY_CHECK_STUDY.format(study=config.study, steps=base.max_steps,
                                                          metric=config.metric))
    except (ConfigError, DataError, ModelError) as exc:
        raise InputProblem(str(exc)) from None
    if deep:
        from ui import finetune_tab

        try:
            checked = finetune_tab.check_config(base)
        except finetune_tab.InputProblem as exc:
            raise InputProblem(str(exc)) from None
        lines += checked.lines
        lines.append(validation_line(base))
    return Checked(config, kind, lines, config.to_yaml(), command(kind))


def validation_line(base) -> str:
    """Every trial and run is scored on the validation set: it must load and hold examples (the recipe reads it the
    same way). Raises InputProblem naming the field."""
    import dataclasses

    from data.records import DataError
    from training import tasks
    from training.config import ConfigError

    task = tasks.get(base.task)
    try:
        if base.eval_dataset:
            where = "Validation set (eval_dataset)"
            items = task.load_items(dataclasses.replace(base, dataset=base.eval_dataset, limit=None,
                                                        train_split="train", eval_split=None), "train")
        else:
            where = "Validation split (eval_split)"
            if not tasks.has_split(base, base.eval_split):
                raise InputProblem(strings.STUDY_NO_VALIDATION.format(dataset=base.dataset, split=base.eval_split))
            items = task.load_items(base, base.eval_split)
    except (DataError, ConfigError, OSError) as exc:
        raise InputProblem(f"{where}: {exc}") from None
    if not items:
        raise InputProblem(f"{where}: no usable examples.")
    return strings.STUDY_VALIDATION.format(count=len(items), source=base.eval_dataset or
                                           f"the {base.eval_split!r} split of {base.dataset}")


def check_form(form: dict | None = None, **fields) -> Checked:
    return check_config(make_config(form, **fields))


def title_of(config) -> str:
    base = config.base_config()
    if job_kind(config) == "search":
        return (f"search {config.protocol}: {len(config.space)} parameter(s) over {base.method.name} on "
                f"{base.dataset}")
    return f"{config.study} study: {base.method.name} {base.task} {base.base_model} on {base.dataset}"


def start_study(form: dict | None = None, *, deep: bool = False, **fields) -> Started:
    """Build and check the config, then start the job; nothing starts (no run folder, no store row) when the input
    is wrong. The quick check runs here (config.check(), storage); the child checks the data again itself."""
    import jobs

    checked = check_config(make_config(form, **fields), deep=deep)
    config, kind = checked.config, checked.job_kind
    run_id = jobs.start(kind, config.to_dict(), MODULES[kind], title=title_of(config))
    path = config_path(run_id)
    return Started(run_id, kind, config.to_yaml(), command(kind, str(path)))


def run_config(run_id: str) -> tuple[str, str]:
    """The run's config.yaml and the command that replays it ('' when the file is gone)."""
    import jobs

    run = jobs.get(run_id)
    path = config_path(run_id)
    try:
        return path.read_text(encoding="utf-8"), command(run.kind if run and run.kind in CLI else "search", str(path))
    except OSError:
        return "", ""
