"""The Studies tab's form, as plain functions tests call without Gradio: which config fields the form shows (each
input's label, id, kind, default and limits are its field's metadata in training.config, training.search.config
and training.studies.config, with the page's own words where it says them differently, PAGE); the form's values
become a SearchConfig (a hyperparameter search) or a StudyConfig (LoRA rank, method comparison, data efficiency,
data selection); check_config says whether it can run here (the base training config's own check, a validation
set that loads); start_study starts the job (`python -m training.search run ...` or `python -m training.studies
run ...`) and run_config shows a run's config.yaml with the command that replays it. Nothing here imports torch,
optuna or Gradio."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ui import finetune_form, strings
from ui.job_tab import InputProblem, config_path

MODULES = {"search": "training.search", "study": "training.studies"}  # python -m <module> run --config ...
CLI = {"search": "python -m training search run {path}", "study": "python -m training study run {path}"}
DEFAULT_SPACE = """\
learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
method.rank: [4, 8, 16]
"""

# The form's fields, in the order the page passes them, and which config each sets. Everything else about an input
# (its label, elem_id, kind, default and limits) is its field's metadata: the base training config's
# (training.config; eval_every is the search's, which the base config shares), a search's (training.search.config)
# or a study's (training.studies.config). `kind` (search, or a study's name) and the upload box are the form's own.
BASE = ("base_model", "dataset", "upload", "eval_dataset", "eval_split", "task", "method", "max_steps", "batch_size",
        "learning_rate", "max_length", "eval_every", "limit", "seed")
SEARCH = ("space", "protocol", "sampler", "pruner", "trials", "trial_steps", "top_k", "min_resource",
          "reduction_factor", "patience", "early_fraction", "verify_all", "objective", "direction", "storage")
STUDY = ("metric", "ranks", "alpha_k", "intrinsic", "intrinsic_examples", "benchmark", "benchmark_limit", "methods",
         "selections", "sizes", "epsilon", "pool", "select_rule", "select_k", "arms")
# Where the Studies page words a base field or starts a field differently from its config: a study's runs are
# short (a budget of max_steps each, never "0 = use epochs"), and the search space starts with an example.
PAGE = {
    "base_model": dict(label="Base model (or type hf:<folder> or run:<id>)"),
    "eval_dataset": dict(label="Validation set (another set or file; empty = the validation split)",
                         placeholder=None),
    "eval_split": dict(label="Validation split"),
    "max_steps": dict(label="Max steps per run (full length)", short="Max steps per run", zero_is_none=False,
                      default=40),
    "learning_rate": dict(label="Learning rate (when not searched)"),
    "max_length": dict(default=256),
    "seed": dict(default=0),
    "space": dict(default=DEFAULT_SPACE),
    "trial_steps": dict(default=10),
    "top_k": dict(default=2),
    "arms": dict(default=""),  # a list of mappings, typed as YAML
}
WHOLE_LISTS = {"ranks": ("intrinsic",), "sizes": ()}  # typed as "1, 6, 14, intrinsic": whole numbers and these words


def kinds() -> tuple[str, ...]:
    """What the form runs: a search, or a registered study (training.studies.registry)."""
    from training.studies.registry import STUDIES

    return ("search", *STUDIES)


KINDS = kinds()


def form_fields() -> dict:
    """Every form input that is a config field, in the page's order, with its metadata (config_loader.FieldInfo) and
    the page's own words and starting values (PAGE). Read when called, so a test's change to a config's metadata
    reaches the form."""
    import dataclasses

    from config_loader import field_info
    from training import config
    from training.search import config as search
    from training.studies import config as studies

    train, method = field_info(config.TrainConfig), field_info(config.MethodConfig)
    search_fields, study_fields = field_info(search.SearchConfig), field_info(studies.StudyConfig)
    base = {**train, "method": method["name"], "eval_every": search_fields["eval_every"]}
    fields = {name: base[name] for name in BASE if name != "upload"}
    fields.update((name, search_fields[name]) for name in SEARCH)
    fields.update((name, study_fields[name]) for name in STUDY)
    return {name: dataclasses.replace(info, **PAGE.get(name, {})) for name, info in fields.items()}


def form_defaults() -> dict:
    """Every form field with its default, in the order the page passes them: the config's defaults (or the page's,
    PAGE), with 0 or an empty text where the config has "not set" (None) and a typed list as its text; the kind,
    the data set and the upload box are the form's own."""
    out: dict = {"kind": "search"}
    for name, info in form_fields().items():
        default = info.default
        if default is None:
            default = 0 if info.number else ""
        elif name in WHOLE_LISTS:
            default = ", ".join(str(v) for v in default)
        out[name] = default
        if name == "dataset":
            out["dataset"], out["upload"] = finetune_form.DEFAULT_DATASET, None
    return out


FORM_DEFAULTS: dict = form_defaults()
FIELDS = list(FORM_DEFAULTS)
LABELS = {name: info.short for name, info in form_fields().items()}  # what messages call each field, with its name


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
def _number(form: dict, name: str, fields: dict):
    """A number box as its field's type, or InputProblem naming the box: whole or not, the lower limit and whether 0
    or an empty box means "not set" are the field's metadata (the Fine-tune form's reading of it)."""
    return finetune_form._number(form, name, fields[name])


def _or_default(form: dict, name: str, fields: dict):
    """A text input as typed, or its field's default when empty."""
    return _text(form, name) or fields[name].default


_text = finetune_form._text  # a text input, stripped
_list = finetune_form._names  # "a, b, a" or a list → ["a", "b"]


def _whole_list(form: dict, name: str, label: str) -> list:
    """'1, 6, 14, intrinsic' → [1, 6, 14, 'intrinsic'] (the words WHOLE_LISTS allows); anything else is a sentence
    naming the field."""
    allowed_words = WHOLE_LISTS[name]
    out = []
    for item in _list(form.get(name)):
        if item in allowed_words:
            out.append(item)
            continue
        try:
            number = float(item)
        except ValueError:
            number = None
        if number is None or not math.isfinite(number) or number != int(number) or number < 1:  # nan, 1e400
            extra = f" or {', '.join(allowed_words)}" if allowed_words else ""
            raise InputProblem(strings.STUDY_BAD_LIST.format(label=label, name=name, item=item, extra=extra))
        out.append(int(number))
    if not out:
        raise InputProblem(strings.STUDY_EMPTY_LIST.format(label=label, name=name))
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


def train_spec(form: dict, fields: dict | None = None) -> dict:
    """The base training config (a TrainConfig mapping) from the form, via the Fine-tune tab's own checks; max_steps
    and eval_every as this page reads them (a budget for every run: at least 1, never "not set")."""
    fields = fields or form_fields()
    base_form = {name: form[name] for name in ("base_model", "dataset", "upload", "eval_dataset", "eval_split",
                                                "task", "method", "batch_size", "learning_rate", "max_length",
                                                "limit", "seed")}
    base_form["max_steps"] = _number(form, "max_steps", fields)
    base_form["eval_every"] = _number(form, "eval_every", fields)
    spec = finetune_form.make_config(base_form).to_dict()  # its InputProblem names the field as it is
    spec["tensorboard"] = False  # a search trains many short runs: their event files would only fill the disk
    return spec


def _storage(url: str) -> str:
    """An Optuna storage URL as typed; a SQLite file must lie inside the app's folders like any typed path."""
    from ui.finetune_form import confined

    if url.startswith("sqlite:///"):
        confined(url.removeprefix("sqlite:///"), f"{LABELS['storage']} (storage)")
    return url


def make_config(form: dict | None = None, **fields):
    """A SearchConfig (kind "search") or StudyConfig (a study's name) from the form's values, or InputProblem with a
    sentence naming the field. Cheap: no model, no data is read (check_config does that)."""
    from training.config import ConfigError
    from ui.finetune_form import confined

    infos, form = form_fields(), finetune_form.filled(form, fields, form_defaults())
    kind = _text(form, "kind")
    known = kinds()
    if kind not in known:
        raise InputProblem(strings.STUDY_UNKNOWN_KIND.format(kind=kind, known=", ".join(known)))
    train = train_spec(form, infos)

    def number(name):
        return _number(form, name, infos)

    try:
        if kind == "search":
            from training.search.config import SearchConfig

            spec = dict(
                train=train, space=parse_space(form.get("space")), objective=_or_default(form, "objective", infos),
                direction=_or_default(form, "direction", infos), protocol=_text(form, "protocol"),
                sampler=_text(form, "sampler"), pruner=_text(form, "pruner"),
                min_resource=number("min_resource"), reduction_factor=number("reduction_factor"),
                patience=number("patience"), trials=number("trials"), trial_steps=number("trial_steps"),
                eval_every=number("eval_every"), top_k=number("top_k"), early_fraction=number("early_fraction"),
                verify_all=bool(form.get("verify_all")), storage=_storage(_text(form, "storage")) or None,
                seed=number("seed"),
            )
            return SearchConfig.from_dict(spec, "search config")
        from training.studies.config import StudyConfig

        spec = dict(
            study=kind, train=train, metric=_or_default(form, "metric", infos),
            ranks=_whole_list(form, "ranks", infos["ranks"].short), alpha_k=number("alpha_k"),
            intrinsic=_or_default(form, "intrinsic", infos), intrinsic_examples=number("intrinsic_examples"),
            benchmark=_or_default(form, "benchmark", infos), benchmark_limit=number("benchmark_limit"),
            methods=_list(form.get("methods")), selections=_list(form.get("selections")),
            sizes=_whole_list(form, "sizes", infos["sizes"].short), epsilon=number("epsilon"),
            pool=confined(_text(form, "pool"), f"{infos['pool'].short} (pool)") or None,
            select_rule=_or_default(form, "select_rule", infos),
            select_k=number("select_k"),  # 0 or empty: not set (all positive)
            arms=_arms(form, infos["arms"]),
        )
        return StudyConfig.from_dict(spec, "study config")
    except ConfigError as exc:
        raise InputProblem(str(exc)) from None


def _arms(form: dict, info) -> list:
    """The task comparison's arms (YAML), each arm's data set confined like the base one."""
    from ui.finetune_form import confined

    arms = finetune_form._yaml_value(form, "arms", info)
    for i, arm in enumerate(arms):
        for key in ("dataset", "eval_dataset", "pool"):
            if isinstance(arm, dict) and arm.get(key):
                arm[key] = confined(str(arm[key]), f"{info.short} (arms[{i}].{key})")
        for key in ("evaluate", "eval_benchmarks"):  # benchmark names only: a YAML path is not typed here
            named = arm.get(key) if isinstance(arm, dict) else None
            for name in ([named] if isinstance(named, str) else named or []):
                if str(name).endswith((".yaml", ".yml")):
                    raise InputProblem(f"{info.short} (arms[{i}].{key}): name a benchmark, not a file ({name}).")
    return arms


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
        lines += finetune_form.check_config(base).lines
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
