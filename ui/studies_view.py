"""The runs half of the Studies tab, as plain functions tests call without Gradio: a search's or study's events
become a StudyView (trials and their states, pruned % and compute saved, the best so far, the report), its plots
reach the gallery (the PNGs the job wrote, or Optuna's plots drawn live from the running search's study.journal),
and the actions on a run: cancel, train the best configuration, evaluate the best full-length run. Nothing here
imports torch, optuna or matplotlib at start-up."""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from training.search.progress import StudyProgress
from training.search.report import live_figures
from ui import job_tab, strings
from ui.job_tab import InputProblem

JOB_KINDS = ("search", "study")  # jobs kinds (the CLI registers its runs under the same ones)
LIVE_PLOT_SECONDS = 6.0  # the live plots from study.journal are redrawn at most this often (per run)
PLOT_TITLES = {  # the search's PNGs (training.search.report.PLOTS), first in the gallery in this order
    "optimization_history.png": "Optimization history",
    "intermediate_values.png": "Validation metric at each evaluation (pruned trials stop)",
    "parallel_coordinate.png": "Parallel coordinates",
    "param_importances.png": "Parameter importances (fANOVA)",
}

TEXTS = job_tab.JobTexts(strings.STUDY_NO_RUN, strings.STUDY_UNKNOWN_RUN, strings.STUDY_ALREADY_FINISHED,
                         strings.STUDY_CANCELLED)


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
