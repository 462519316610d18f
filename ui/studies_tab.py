"""Studies tab: a hyperparameter search (Optuna: sampler, pruner, two-phase or early-score protocol) or one of the
studies (LoRA rank, method comparison, data efficiency, data selection) from one form; watch its trials live
(state, parameters, score, steps), pruned % and compute saved, Optuna's plots, the best configuration with
"Train this" and "Evaluate this", and the report when it ends.

Each search or study is a child process (jobs.start → `python -m training.search run ...` or
`python -m training.studies run ...`), so the page only tails its events.jsonl and reads the files it writes
(summary.json, report.md, PNGs); a reloaded page re-attaches. The logic lives in plain functions (make_config,
check_form, start_study, run_view, cancel_run, train_best, evaluate_best, plot_images ...) that tests call without
Gradio; build() only wires them to components. Nothing here imports torch, optuna or matplotlib at start-up.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from training import methods
from training.methods import METHODS
from training.search.config import DIRECTIONS, PROTOCOLS, PRUNERS, SAMPLERS
from training.search.progress import StudyProgress
from training.search.report import live_figures
from training.studies.config import SELECTIONS
from ui import job_tab, strings
from ui.job_tab import InputProblem, config_path, readable

KINDS = ("search", "lora-rank", "method-comparison", "data-efficiency", "data-selection")
JOB_KINDS = ("search", "study")  # jobs kinds (the CLI registers its runs under the same ones)
MODULES = {"search": "training.search", "study": "training.studies"}  # python -m <module> run --config ...
CLI = {"search": "python -m training search run {path}", "study": "python -m training study run {path}"}
TICK_SECONDS = 1.0
LIVE_PLOT_SECONDS = 6.0  # the live plots from study.journal are redrawn at most this often (per run)
DEFAULT_SPACE = """\
learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
method.rank: [4, 8, 16]
"""
PLOT_TITLES = {  # the search's PNGs (training.search.report.PLOTS), first in the gallery in this order
    "optimization_history.png": "Optimization history",
    "intermediate_values.png": "Validation metric at each evaluation (pruned trials stop)",
    "parallel_coordinate.png": "Parallel coordinates",
    "param_importances.png": "Parameter importances (fANOVA)",
}

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


TEXTS = job_tab.JobTexts(strings.STUDY_NO_RUN, strings.STUDY_UNKNOWN_RUN, strings.STUDY_ALREADY_FINISHED,
                         strings.STUDY_CANCELLED)


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


# -- watching ---------------------------------------------------------------------------------------------------
@dataclass
class StudyView(StudyProgress):
    """What the Studies tab shows of a search or study: its progress (training.search.progress), rendered."""

    plots_key: object = None  # what the gallery shows now (files and their times, or a live drawing)

    # -- what the page shows ------------------------------------------------------------------------------------
    @property
    def status_markdown(self) -> str:
        text = strings.STUDY_RUN_STATUS.get(self.status, "Status: **{status}**")
        phase = ""
        if self.status == "running":
            if self.kind == "search":
                running = [f for f in self.finals.values() if f.get("state") == "running"]
                if running:
                    phase = strings.STUDY_PHASE2.format(place=running[-1].get("place"),
                                                        run_id=running[-1].get("run_id"))
                elif self.trials:
                    phase = strings.STUDY_PHASE1.format(done=self.phase1()["trials"],
                                                        total=self.config.get("trials", "?"))
                else:
                    phase = strings.STUDY_STARTING
            else:
                running = [r for r in self.runs.values() if r.get("state") == "running"]
                phase = f": training {running[-1]['label']} …" if running else strings.STUDY_STARTING
        return text.format(phase=phase, error=self.error or "no reason given", status=self.status) + \
            f"  \n`{self.run_id}`"

    @property
    def figures_markdown(self) -> str:
        if self.kind == "study":
            done = sum(1 for r in self.runs.values() if r.get("state") == "complete")
            failed = sum(1 for r in self.runs.values() if r.get("state") == "failed")
            steps = sum(int(r.get("steps") or 0) for r in self.runs.values())
            text = strings.STUDY_STUDY_FIGURES.format(done=done, failed=failed, steps=steps)
            return text + "".join(f"  \n_{n}_" for n in self.notes)
        p = self.phase1()
        if not p["trials"] and not p["running"]:
            return "" if self.finished else strings.STUDY_WAITING_TRIALS
        saved = "—" if p["saved_percent"] is None else f"{p['saved_percent']:g} %"
        cells = [("phase-1 trials", f"{p['trials']}/{self.config.get('trials', '?')}"),
                 ("running", str(p["running"])), ("complete", str(p["complete"])), ("pruned", str(p["pruned"])),
                 ("failed", str(p["failed"])), ("pruned %", f"{p['pruned_percent']:g} %"),
                 ("steps run", f"{p['steps']} of {p['steps_unpruned']}"), ("compute saved", saved)]
        table = "| " + " | ".join(k for k, _ in cells) + " |\n|" + "---|" * len(cells) + "\n| " + \
                " | ".join(v for _, v in cells) + " |"
        note = strings.STUDY_SAVED_NOTE.format(steps=p["steps"], unpruned=p["steps_unpruned"], saved=saved,
                                               source="summary.json" if self.summary else "the events so far")
        if self.summary and (self.summary.get("prediction") or {}).get("pairs"):
            pred = self.summary["prediction"]
            note += "  \n" + strings.STUDY_PREDICTION.format(**pred)
        return f"{table}\n\n{note}"

    @property
    def columns(self) -> list[str]:
        if self.kind == "study":
            metrics: list[str] = []
            for r in self.runs.values():
                metrics += [m for m in (r.get("metrics") or {}) if m not in metrics]
            return ["run", "state", *metrics, "steps", "seconds", "model", "error"]
        return ["trial", "phase", "state", *self.param_names, self.objective, "steps", "seconds", "model", "error"]

    @property
    def rows(self) -> list[list]:
        if self.kind == "study":
            metric_names = self.columns[2:-4]
            return [[r.get("label"), r.get("state"), *[_cell((r.get("metrics") or {}).get(m)) for m in metric_names],
                     r.get("steps"), r.get("seconds"), f"run:{r['run_id']}" if r.get("run_id") else "",
                     r.get("error") or ""] for r in self.runs.values()]
        names = self.param_names
        out = []
        for number in sorted(self.trials):
            t = self.trials[number]
            params = t.get("params") or {}
            out.append([number, 1, t.get("state"), *[_cell(params.get(n)) for n in names], _cell(t.get("value")),
                        t.get("steps"), t.get("seconds"), "", t.get("error") or ""])
        for place in sorted(self.finals):
            f = self.finals[place]
            params = f.get("params") or {}
            out.append([f.get("number"), f"2 (top {place})", f.get("state"), *[_cell(params.get(n)) for n in names],
                        _cell(f.get("value")), f.get("steps"), f.get("seconds"),
                        f"run:{f['run_id']}" if f.get("run_id") else "", f.get("error") or ""])
        return out

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    @property
    def best_markdown(self) -> str:
        if self.kind == "study":
            best = self.best_study_run()
            if not best:
                return "" if self.finished else strings.STUDY_NO_BEST_YET
            return strings.STUDY_BEST_RUN.format(label=best["label"], metric=self.objective,
                                                 value=_cell(best["metrics"][self.objective]), run_id=best["run_id"])
        best = self.best
        if not best:
            return "" if self.finished else strings.STUDY_NO_BEST_YET
        params = "\n".join(f"{k}: {v}" for k, v in (best.get("params") or {}).items())
        where = f"full-length run `run:{best['run_id']}`" if best.get("run_id") else \
            f"phase-1 trial {best.get('trial')}"
        so_far = "" if self.summary else strings.STUDY_SO_FAR
        return strings.STUDY_BEST.format(metric=self.objective, value=_cell(best.get("value")), where=where,
                                         so_far=so_far, params=params)

    @property
    def best_run_id(self) -> str | None:
        if self.kind == "study":
            best = self.best_study_run()
            return best.get("run_id") if best else None
        best = self.best
        return best.get("run_id") if best else None

    def report_markdown(self) -> str:
        """report.md with its image lines pointing at the gallery (the page shows the PNGs there)."""
        path = Path(self.directory) / "report.md"
        if not self.directory or not path.is_file():
            return "" if not self.finished else strings.STUDY_NO_REPORT
        text = path.read_text(encoding="utf-8", errors="replace")
        return re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", lambda m: f"- _{m.group(1) or m.group(2)}: shown in the plots above_",
                      text)


def _cell(value):
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def _read_config(directory: Path) -> dict:
    import yaml

    try:
        return yaml.safe_load((directory / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}


def run_view(run_id: str, offset: int = 0, view: StudyView | None = None) -> StudyView:
    """The run's trials, figures and status: events after `offset` applied to `view` (a fresh view from 0 replays the
    whole file, which is how a reloaded page re-attaches). Raises InputProblem for an unknown run."""

    if view is None or view.run_id != run_id or offset == 0:
        view, offset = None, 0
    run = job_tab.active_run(run_id, JOB_KINDS, TEXTS)
    if view is None:
        view = StudyView(run_id, kind=run.kind, directory=run.directory,
                         config=_read_config(Path(run.directory)))
    before = job_tab.apply_new_events(view, run, offset)
    view.status = run.status
    if run.status in ("failed", "cancelled"):
        view.error = run.error or view.error
    if view.finished and view.summary is None:
        try:
            view.summary = json.loads((Path(run.directory) / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            view.summary = None
    view.study_name = view.study_name or (view.summary or {}).get("study")
    view.changed = (view.offset, view.status) != before or offset == 0
    return view


# -- plots --------------------------------------------------------------------------------------------------------
def plot_files(view: StudyView) -> list[tuple[Path, str]]:
    """The PNGs the job wrote (the search's Optuna plots first, then any other, e.g. a study's), with captions."""
    folder = Path(view.directory)
    if not view.directory or not folder.is_dir():
        return []
    found = [(folder / name, title) for name, title in PLOT_TITLES.items() if (folder / name).is_file()]
    found += [(p, p.stem.replace("_", " ")) for p in sorted(folder.glob("*.png")) if p.name not in PLOT_TITLES]
    return found


_live: dict[str, dict] = {}  # run id -> {"at": time drawn, "mtime": journal mtime, "images": [...]}
_live_lock = threading.Lock()


def live_plots(view: StudyView, every: float = LIVE_PLOT_SECONDS) -> tuple[object, list]:
    """Optuna's optimization history and intermediate values drawn here from the running search's study.journal,
    at most every `every` seconds per run and only when the journal changed. (key, [(PIL image, caption)])."""
    journal = Path(view.directory) / "study.journal"
    if view.kind != "search" or not journal.is_file():
        return None, []
    mtime = journal.stat().st_mtime
    cached = _live.get(view.run_id)
    if cached and (cached["mtime"] == mtime or time.time() - cached["at"] < every):
        return ("live", cached["mtime"]), cached["images"]
    if not _live_lock.acquire(blocking=False):  # another session is drawing: show what there is
        return (("live", cached["mtime"]), cached["images"]) if cached else (None, [])
    try:
        images = live_figures(journal, view.study_name or view.run_id)
        _live[view.run_id] = {"at": time.time(), "mtime": mtime, "images": images}
    except Exception:  # noqa: BLE001 - a journal being written or too few trials: try again later
        _live[view.run_id] = {"at": time.time(), "mtime": cached["mtime"] if cached else None,
                              "images": cached["images"] if cached else []}
    finally:
        _live_lock.release()
    entry = _live[view.run_id]
    return ("live", entry["mtime"]), entry["images"]


def plot_images(view: StudyView, live: bool = True) -> tuple[object, list]:
    """(key, [(PIL image, caption)]) for the gallery: the job's PNGs once they exist, else (`live`) plots drawn from
    the running search's journal. The key changes only when what the gallery shows would change. Images go to the
    browser as pictures, not paths, so they show wherever the runs folder is (Gradio serves files only from its
    allowed paths)."""
    files = plot_files(view)
    if files:
        key = tuple((str(p), p.stat().st_mtime) for p, _ in files)
        if key == view.plots_key:
            return key, []
        from PIL import Image

        images = []
        for path, caption in files:
            try:
                image = Image.open(path)
                image.load()
                images.append((image, caption))
            except OSError:
                continue
        return key, images
    if live and view.kind == "search" and not view.finished:
        return live_plots(view)
    return None, []


# -- actions ----------------------------------------------------------------------------------------------------
def cancel_run(run_id: str | None) -> str:
    """Kill the job's process tree (its trials and full-length runs with it)."""
    return job_tab.cancel_run(run_id, JOB_KINDS, TEXTS)


def train_best(run_id: str | None) -> str:
    """Start a training job of the search's best parameters on its base config at full length; returns its id."""
    import jobs
    from training.config import ConfigError
    from training.search.config import SearchConfig
    from ui import finetune_tab

    if not run_id:
        raise InputProblem(strings.STUDY_NO_RUN)
    view = run_view(run_id)
    if view.kind != "search":
        raise InputProblem(strings.STUDY_TRAIN_ONLY_SEARCH)
    best = view.best
    if not best:
        raise InputProblem(strings.STUDY_NO_BEST.format(run_id=run_id))
    try:
        config = SearchConfig.from_dict(view.config, f"{run_id}/config.yaml")
        trained = config.trial_config(best.get("params") or {}, max_steps=config.full_length(),
                                      eval_every=int(config.eval_every))
        trained.tensorboard = bool(config.base_config().tensorboard)
    except ConfigError as exc:
        raise InputProblem(str(exc)) from None
    title = f"best of {run_id}: " + ", ".join(f"{k}={v}" for k, v in (best.get("params") or {}).items())
    return jobs.start(finetune_tab.KIND, trained.to_dict(), finetune_tab.MODULE, title=title[:200], status="queued")


def evaluate_best(run_id: str | None, benchmark: str | None, limit=0) -> str:
    """Start an evaluation job of the best full-length run (`run:<id>`) on `benchmark`; returns its id."""
    from ui import evaluate_tab

    if not run_id:
        raise InputProblem(strings.STUDY_NO_RUN)
    best = run_view(run_id).best_run_id
    if not best:
        raise InputProblem(strings.STUDY_NO_BEST_RUN.format(run_id=run_id))
    if not benchmark:
        raise InputProblem(strings.EVAL_NO_BENCHMARK)
    try:
        return evaluate_tab.start_evaluation([f"run:{best}"], [benchmark], limit or 0).run_id
    except evaluate_tab.InputProblem as exc:
        raise InputProblem(str(exc)) from None


def run_choices() -> tuple[list[tuple[str, str]], str | None]:
    """Recent searches and studies as (label, id), and the one to show: the latest active one, else the latest."""
    return job_tab.run_choices(JOB_KINDS)


# -- the tab ----------------------------------------------------------------------------------------------------
def build(demo=None) -> None:
    """Lay out the Studies tab; `demo.load` re-attaches to the latest active search or study after a reload."""
    import gradio as gr

    import settings
    from training.config import TASKS
    from ui import evaluate_tab, finetune_tab

    d = FORM_DEFAULTS
    w: dict = {}
    gr.Markdown(strings.STUDY_INTRO)
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
    assert list(w) == FIELDS
    with gr.Row():
        check_button = gr.Button("Check", elem_id="st-check")
        start_button = gr.Button("Start", variant="primary", elem_id="st-start")
    message = gr.Markdown(elem_id="st-message")
    check_box = gr.Markdown(elem_id="st-check-result")
    with gr.Accordion("Config and command line", open=False):
        config_box = gr.Code(language="yaml", label="config.yaml", interactive=False, elem_id="st-config")
        command_box = gr.Textbox(label="The same job from a shell", interactive=False, elem_id="st-command")

    gr.Markdown("### Searches and studies")
    with gr.Row():
        run = gr.Dropdown([], value=None, label="Run (recent searches and studies; pick one to watch)",
                          elem_id="st-run", scale=4)
        refresh = gr.Button("Refresh runs", elem_id="st-refresh", scale=1)
        cancel_button = gr.Button("Cancel", variant="stop", elem_id="st-cancel", scale=1)
    status = gr.Markdown(elem_id="st-status")
    figures = gr.Markdown(elem_id="st-figures")
    table = gr.Dataframe(headers=["trial", "phase", "state"], label="Trials (live)", interactive=False, wrap=True,
                         elem_id="st-trials-table")
    live = gr.Checkbox(value=True, label=f"Draw live plots from the study journal (at most every "
                                         f"{LIVE_PLOT_SECONDS:g} s while a search runs)", elem_id="st-live")
    gallery = gr.Gallery(label="Plots", columns=2, height="auto", format="png", object_fit="contain",
                         elem_id="st-plots")
    gr.Markdown("### Best configuration")
    best = gr.Markdown(elem_id="st-best")
    bench_options, _ = evaluate_tab.benchmark_choices()
    with gr.Row():
        train_button = gr.Button("Train this", elem_id="st-train-best")
        bench = gr.Dropdown(bench_options, value=bench_options[0][1] if bench_options else None,
                            label="Benchmark for Evaluate this", elem_id="st-eval-benchmark", scale=3)
        bench_limit = gr.Number(value=20, precision=0, label="Items (0 = all)", elem_id="st-eval-limit")
        evaluate_button = gr.Button("Evaluate this", elem_id="st-evaluate-best")
    action = gr.Markdown(elem_id="st-action")
    gr.Markdown("### Report")
    report = gr.Markdown(elem_id="st-report")
    timer = gr.Timer(TICK_SECONDS, active=False)
    view_state = gr.State(None)

    def gallery_update(view: StudyView, want_live: bool):
        key, images = plot_images(view, bool(want_live))
        if key is None and view.plots_key is None:
            return gr.skip()
        if key == view.plots_key:
            return gr.skip()
        view.plots_key = key
        return images or None

    def show(view: StudyView, want_live: bool):
        return (view.status_markdown, view.figures_markdown, view.frame(), gallery_update(view, want_live),
                view.best_markdown, view.report_markdown())

    shown = [status, figures, table, gallery, best, report]

    def attach(run_id, want_live=True):
        off = gr.Timer(active=False)
        if not run_id:
            return (None, strings.STUDY_NO_RUN, "", None, None, "", "", "", "", off)
        try:
            view = run_view(run_id)
        except Exception as exc:  # noqa: BLE001 - a sentence on the page, never a stack trace
            return (None, f"{strings.ERROR_PREFIX}{readable(exc)}", "", None, None, "", "", "", "", off)
        config_yaml, cli = run_config(run_id)
        key, images = plot_images(view, bool(want_live))  # a fresh view: replace whatever another run showed
        view.plots_key = key
        return (view, view.status_markdown, view.figures_markdown, view.frame(), images or None, view.best_markdown,
                view.report_markdown(), config_yaml, cli, gr.Timer(active=not view.finished))

    attach_outputs = [view_state, *shown, config_box, command_box, timer]

    def runs_update(value=None):
        choices, chosen = run_choices()
        return gr.update(choices=choices, value=value or chosen), chosen

    def on_load():
        update, chosen = runs_update()
        return (update, gr.update(choices=finetune_tab.base_model_choices()), *attach(chosen))

    def form_of(values) -> dict:
        return dict(zip(FIELDS, values))

    def on_check(*values):
        try:
            checked = check_form(form_of(values))
        except Exception as exc:  # noqa: BLE001
            return (f"**{strings.ERROR_PREFIX}{readable(exc)}**",
                    strings.STUDY_CHECK_FAILED.format(error=readable(exc)),
                    gr.skip(), gr.skip())
        return "", checked.markdown, checked.config_yaml, checked.command

    def on_start(*values):
        try:
            started = start_study(form_of(values))
        except Exception as exc:  # noqa: BLE001 - the page shows a sentence, never a stack trace
            return (f"**{strings.ERROR_PREFIX}{readable(exc)}**",
                    strings.STUDY_CHECK_FAILED.format(error=readable(exc)),
                    gr.skip(), *[gr.skip()] * len(attach_outputs))
        update, _ = runs_update(started.run_id)
        return (strings.STUDY_STARTED.format(run_id=started.run_id), "", update, *attach(started.run_id))

    def on_tick(run_id, view, want_live):
        if not run_id:
            return (*[gr.skip()] * (len(shown) + 2), gr.Timer(active=False))
        try:
            view = run_view(run_id, view.offset if view and view.run_id == run_id else 0, view)
        except Exception as exc:  # noqa: BLE001
            return (None, f"{strings.ERROR_PREFIX}{readable(exc)}", *[gr.skip()] * (len(shown)),
                    gr.Timer(active=False))
        if not view.changed:  # nothing new in the events, but a live plot may have been redrawn
            return (view, gr.skip(), gr.skip(), gr.skip(), gallery_update(view, want_live), gr.skip(), gr.skip(),
                    gr.skip(), gr.Timer(active=not view.finished))
        runs = gr.update(choices=run_choices()[0]) if view.finished else gr.skip()
        return (view, *show(view, want_live), runs, gr.Timer(active=not view.finished))

    def on_cancel(run_id):
        try:
            text = cancel_run(run_id)
        except Exception as exc:  # noqa: BLE001
            text = f"{strings.ERROR_PREFIX}The run could not be cancelled: {readable(exc)}"
        update, _ = runs_update(run_id)
        return (text, update, *attach(run_id))

    def on_train(run_id):
        try:
            started = train_best(run_id)
        except Exception as exc:  # noqa: BLE001
            return f"{strings.ERROR_PREFIX}{readable(exc)}"
        return strings.STUDY_TRAIN_STARTED.format(run_id=started)

    def on_evaluate(run_id, benchmark, limit):
        try:
            started = evaluate_best(run_id, benchmark, limit)
        except Exception as exc:  # noqa: BLE001
            return f"{strings.ERROR_PREFIX}{readable(exc)}"
        return strings.STUDY_EVALUATE_STARTED.format(run_id=started, benchmark=benchmark)

    def on_kind(kind):
        return gr.update(visible=kind == "search"), gr.update(visible=kind != "search")

    def on_upload(temp_path):
        if not temp_path:
            return gr.skip(), gr.skip()
        try:
            path = finetune_tab.upload_dataset(temp_path)
        except finetune_tab.InputProblem as exc:
            return gr.skip(), f"**{strings.ERROR_PREFIX}{exc}**"
        return gr.update(value=path), f"Uploaded: training reads `{path}`."

    form_inputs = [w[name] for name in FIELDS]
    w["kind"].change(on_kind, w["kind"], [search_box, study_box], queue=False)
    w["upload"].upload(on_upload, w["upload"], [w["dataset"], message])
    w["dataset"].input(lambda: None, None, w["upload"])
    check_button.click(on_check, form_inputs, [message, check_box, config_box, command_box], concurrency_limit=2)
    start_button.click(on_start, form_inputs, [message, check_box, run, *attach_outputs], concurrency_limit=2)
    cancel_button.click(on_cancel, run, [message, run, *attach_outputs])
    train_button.click(on_train, run, action)
    evaluate_button.click(on_evaluate, [run, bench, bench_limit], action)
    run.input(attach, [run, live], attach_outputs)
    refresh.click(on_load, None, [run, w["base_model"], *attach_outputs])
    timer.tick(on_tick, [run, view_state, live], [view_state, *shown, run, timer], show_progress="hidden")
    if demo is not None:
        demo.load(on_load, None, [run, w["base_model"], *attach_outputs])
