"""Experiment trackers beyond TensorBoard (which stays its own switch, `tensorboard`, on by default): MLflow,
trackio and Weights & Biases, named in the config's `report_to`.

The Trainer's own integrations do the per-step logging (transformers' MLflowCallback, TrackioCallback,
WandbCallback: `report_to` of TrainingArguments). This module adds what they cannot know: where MLflow writes by
default (a `mlruns` folder in the runs folder, holding an SQLite store — MLflow 3 refuses new plain-file stores),
one MLflow run per training run named by its run id (a resumed run continues it), the run's own config as
params, and the final validation metrics and the leaderboard rows of the benchmarks run after training.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

TRACKERS = {
    "mlflow": "MLflow: runs/mlruns (SQLite) by default, or MLFLOW_TRACKING_URI",
    "trackio": "trackio: a local dashboard (pip install trackio)",
    "wandb": "Weights & Biases: needs the wandb package and WANDB_API_KEY (or WANDB_MODE=offline)",
}
PACKAGES = {"mlflow": "mlflow", "trackio": "trackio", "wandb": "wandb"}
EXPERIMENT = "pharmatune"
RUN_FILE = "mlflow_run.json"  # the MLflow run id of this training run, so a resume continues the same run


def problems(names) -> list[str]:
    """Why each named tracker cannot be used here (not installed, no key): one sentence each; [] when all can."""
    import importlib.util

    found = []
    for name in names or []:
        if name not in TRACKERS:
            found.append(f"report_to: {name!r} is not a tracker; choose from {', '.join(TRACKERS)} (TensorBoard is "
                         "the tensorboard switch)")
        elif importlib.util.find_spec(PACKAGES[name]) is None:
            found.append(f"report_to: {name} is not installed here (pip install {PACKAGES[name]})")
        elif name == "wandb" and not (os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE") in
                                      ("offline", "disabled")):
            found.append("report_to: wandb needs WANDB_API_KEY in the environment (or WANDB_MODE=offline)")
    return found


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else an SQLite store in <runs>/mlruns (created when first used)."""
    import settings

    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    folder = (settings.runs_dir() / "mlruns").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def start(config, run_dir: Path) -> list[str]:
    """Open the trackers of `config.report_to` for this run (rank 0 only) and return the names for
    TrainingArguments.report_to. MLflow's run is opened here, so the Trainer's callback logs into it and leaves it
    open for finish(); a resumed run continues the MLflow run it started."""
    names = list(config.report_to or [])
    if "mlflow" in names:
        import mlflow

        own_store = not os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(tracking_uri())  # (MLflow also puts it in the environment, for child processes)
        _experiment(mlflow, os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT, own_store)
        earlier = _earlier_run(run_dir)
        if mlflow.active_run() is not None:
            mlflow.end_run()
        active = mlflow.start_run(run_id=earlier) if earlier else mlflow.start_run(run_name=run_dir.name)
        (run_dir / RUN_FILE).write_text(json.dumps({"run_id": active.info.run_id, "uri": tracking_uri()}),
                                        encoding="utf-8")
        if not earlier:
            mlflow.set_tags({"pharmatune.run": run_dir.name, "pharmatune.task": config.task,
                             "pharmatune.method": config.method.name, "pharmatune.base_model": config.base_model})
            mlflow.log_params(_params(config))
    return names


def finish(config, summary: dict, *, failed: bool = False) -> None:
    """Log what the run ended with (the final validation metrics, each benchmark row's metrics and the rows as a
    table) and close the trackers' runs."""
    if "mlflow" not in (config.report_to or []):
        return
    import mlflow

    if mlflow.active_run() is None:
        return
    final = {k: float(v) for k, v in (summary.get("final_eval") or {}).items() if isinstance(v, (int, float))}
    for key in ("train_loss", "train_seconds", "tokens_per_s", "peak_memory_mb"):
        if isinstance(summary.get(key), (int, float)):
            final[f"final/{key}"] = float(summary[key])
    rows = summary.get("evaluation") or []
    for row in rows:
        for metric, value in (row.get("metrics") or {}).items():
            if isinstance(value, (int, float)) and value == value:
                final[f"benchmark/{row['benchmark']}/{row.get('variant', 'default')}/{metric}"] = float(value)
    if final:
        mlflow.log_metrics(final, step=int(summary.get("steps") or 0))
    if rows:
        mlflow.log_dict({"rows": rows}, "evaluation.json")
    mlflow.end_run(status="FAILED" if failed else "FINISHED")


def _experiment(mlflow, name: str, own_store: bool) -> None:
    """Use (or create) the experiment; a new one in the default store keeps its artifacts beside it (MLflow would
    otherwise write them to ./mlruns of whatever folder the job runs in)."""
    import settings

    if own_store and mlflow.get_experiment_by_name(name) is None:
        artifacts = (settings.runs_dir() / "mlruns" / "artifacts").resolve()
        mlflow.create_experiment(name, artifact_location=artifacts.as_uri())
    mlflow.set_experiment(name)


def _earlier_run(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))["run_id"]
    except (OSError, ValueError, KeyError):
        return None


def _params(config) -> dict:
    """The config as flat MLflow params under `pharmatune.` (pharmatune.method.rank …: the Trainer's callback logs
    its own arguments under their bare names, and MLflow refuses a second value for a name); values cut to MLflow's
    6,000 characters."""
    flat: dict = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}{key}.", inner)
        else:
            flat[prefix[:-1]] = str(value)[:6000]

    walk("pharmatune.", config.to_dict())
    return flat
