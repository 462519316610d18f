"""The runs half of the Fine-tune tab, as plain functions tests call without Gradio: a training run's events become a
TrainView (status, step, losses, learning rate and gradient norm as plot frames, tokens/s, ETA, memory, checkpoints,
the evaluation after training), and the actions on a run: cancel, resume from its newest complete checkpoint, its
files, its model card, exporting the merged model (in a background thread), and the lists of runs and of the
training queue. Nothing here imports torch at start-up."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from training.progress import TrainProgress
from ui import job_tab, strings
from ui.finetune_form import KIND, MODULE, _duration
from ui.job_tab import InputProblem

MAX_PLOT_POINTS = 1500  # longer curves are thinned (evenly, the last point kept) before they go to the browser
EVAL_COLUMNS = ["benchmark", "variant", "items", "metrics", "leaderboard row"]
QUEUE_COLUMNS = ["run", "status", "position", "what"]
FILE_COLUMNS = ["file", "size"]

TEXTS = job_tab.JobTexts(strings.FT_NO_RUN, strings.FT_UNKNOWN_RUN, strings.FT_ALREADY_FINISHED, strings.FT_CANCELLED)


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

    # -- preference and GRPO runs (and any run scoring a benchmark during training) ------------------------------
    def reward_frame(self):
        """GRPO: the total reward's mean and std and each component's, per step."""
        rows = [{"step": s, "reward": v, "series": "total mean"} for s, v in self.series("reward_mean")]
        rows += [{"step": s, "reward": v, "series": "total std"} for s, v in self.series("reward_std")]
        for name, stats in self.reward_components().items():
            for stat, points in stats.items():
                rows += [{"step": s, "reward": v, "series": f"{name} {stat}"} for s, v in points]
        return _frame(rows, ["step", "reward", "series"])

    def kl_frame(self):
        return _frame(_thin([{"step": s, "KL": v} for s, v in self.series("kl")]), ["step", "KL"])

    def preference_frame(self):
        """DPO / KTO / ORPO: the chosen-over-rejected reward margin and the share of pairs ranked right."""
        rows = [{"step": s, "value": v, "series": "margin (chosen − rejected)"} for s, v in self.series("margin")]
        rows += [{"step": s, "value": v, "series": "accuracy"} for s, v in self.series("accuracy")]
        return _frame(rows, ["step", "value", "series"])

    def heldout_frame(self):
        """The benchmark items scored every eval_every steps: the held-out curve beside a rising reward."""
        rows = [{"step": s, "score": v, "series": key} for key, points in self.benchmark_series().items()
                for s, v in points]
        return _frame(rows, ["step", "score", "series"])

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


def start_export(run_id: str, target: str = "merged", quant: str = "q8_0") -> dict:
    """Start an export of the run unless one is already running: the adapter merged into its base
    (training.export.merged) or a GGUF file with its Ollama Modelfile (training.export.gguf, which merges first)."""
    with _exports_lock:
        state = _exports.get(run_id)
        if state and state["state"] == "running":
            return state
        state = _exports[run_id] = {"state": "running", "target": target, "quant": quant, "path": None,
                                    "summary": None, "error": None}

    def work():
        from errors import UserError

        try:
            from training import export

            if target == "gguf":
                result = export.gguf(run_id, quant)
                state.update(state="done", path=str(result.path), summary=result.summary())
            else:
                state.update(state="done", path=str(export.merged(run_id)))
        except (UserError, ValueError, OSError) as exc:
            state.update(state="failed", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - shown on the page, never a stack trace
            state.update(state="failed", error=f"{type(exc).__name__}: {exc}")

    threading.Thread(target=work, name=f"export-{run_id}", daemon=True).start()
    return state


def export_markdown(run_id: str | None) -> str:
    state = _exports.get(run_id or "")
    if not state:
        return ""
    gguf = state.get("target") == "gguf"
    if state["state"] == "running":
        return strings.FT_EXPORTING_GGUF.format(quant=state["quant"]) if gguf else strings.FT_EXPORTING
    if state["state"] == "done":
        return strings.FT_EXPORTED_GGUF.format(summary=state["summary"]) if gguf else \
            strings.FT_EXPORTED.format(path=state["path"])
    return strings.FT_EXPORT_FAILED.format(error=state["error"])


def wait_export(run_id: str, timeout: float = 600) -> dict:
    deadline = time.time() + timeout
    while _exports.get(run_id, {}).get("state") == "running" and time.time() < deadline:
        time.sleep(0.2)
    return _exports.get(run_id, {})


def exporting(run_id: str) -> bool:
    """Whether the run's merge is still running."""
    return _exports.get(run_id, {}).get("state") == "running"


# -- lists: runs, queue ----------------------------------------------------------------------------------------
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
