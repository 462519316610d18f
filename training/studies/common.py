"""What every study does: train one labelled run (a training run of its own, so `run:<id>` chats and evaluates),
score it, and write tables and plots into the report."""
from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

from training.config import ConfigError


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(label).lower()).strip("-")[:40]


def train_run(study, study_dir: Path, label: str, config, emit) -> dict:
    """Train `config` as run `<study id>-<label>`; add the benchmark's scores when the study names one. A failed run
    is a row with its error: the study goes on."""
    from training.search.engine import finish_run, register_run
    from training.search.trial import run_trial

    run_id = f"{study_dir.name}-{slug(label)}"
    target = study_dir.parent / run_id
    register_run(run_id, target, f"{study.study} study {study_dir.name}: {label}")
    emit("study_run", label=label, state="running", run_id=run_id)
    started = time.time()
    try:
        result = run_trial(config, target, keep_weights=True)
        metrics = {k: v for k, v in (result.summary.get("final_eval") or {}).items() if k != "epoch"}
        metrics.update(trainable_percent=result.summary.get("trainable_percent"),
                       train_seconds=result.summary.get("train_seconds"))
        if study.benchmark:
            metrics.update(benchmark_scores(study, run_id, target, emit))
        finish_run(run_id, "done")
    except Exception as exc:  # noqa: BLE001 - one failed run is a row, not the end of the study
        import traceback

        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
        finish_run(run_id, "failed", error)
        row = {"label": label, "state": "failed", "run_id": run_id, "error": error, "metrics": {},
               "seconds": round(time.time() - started, 1)}
        emit("study_run", **row)
        return row
    row = {"label": label, "state": "complete", "run_id": run_id, "metrics": metrics, "steps": result.steps,
           "seconds": round(time.time() - started, 1)}
    emit("study_run", **row)
    return row


def benchmark_scores(study, run_id: str, run_dir: Path, emit) -> dict:
    """The benchmark on run:<id>, its rows on the leaderboard; the metrics of its default variant."""
    from evaluation import benchmark as benchmarks, leaderboard
    from evaluation.runner import Options, evaluate

    bench = benchmarks.load(study.benchmark)
    why = bench.availability()
    if why:
        raise ConfigError(f"benchmark {study.benchmark}: {why}")
    results = evaluate(f"run:{run_id}", bench, run_dir / "evaluation" / study.benchmark,
                       Options(limit=study.benchmark_limit, judge=study.judge, variants=["default"]))
    leaderboard.add(results, run_id)
    return {k: v for k, v in results[0].metrics.items() if v is not None} if results else {}


def value(row: dict, metric: str):
    return (row.get("metrics") or {}).get(metric)


def with_method(config, **fields):
    """A copy of the training config with method fields replaced."""
    return dataclasses.replace(config, method=dataclasses.replace(config.method, **fields))


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    def cell(v):
        if v is None:
            return ""
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    head = "| " + " | ".join(label for _, label in columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(cell(r.get(k)) for k, _ in columns) + " |\n" for r in rows)


def figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    return fig, ax


def save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def count_examples(config) -> int:
    from training import tasks

    return len(tasks.get(config.task).load_items(dataclasses.replace(config, limit=None), config.train_split))


def model_parts(config, run_id: str | None = None) -> dict:
    """The task's model with the method applied, as run `run_id` trained it (or untrained), plus the features and a
    padded collator: what influence, Shapley and TwoNN read."""
    from training import recipe

    config = dataclasses.replace(config, batching="padding")
    if run_id is not None:
        from models.run import weights

        kind, folder = weights(run_id)
        if kind == "model":
            parts = recipe.setup(dataclasses.replace(config, base_model=f"run:{run_id}"), lambda *a, **k: None)
        else:
            parts = recipe.setup(config, lambda *a, **k: None)
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file

            set_peft_model_state_dict(parts["model"], load_file(str(folder / "adapter_model.safetensors")))
    else:
        parts = recipe.setup(config, lambda *a, **k: None)
    parts["collate"] = parts["task"].collator(parts["tokenizer"], config, parts["extra"])
    return parts


def batches(parts: dict, features: list, size: int = 8) -> list[dict]:
    collate = parts["collate"]
    return [collate(list(features[i:i + size])) for i in range(0, len(features), size)]


def write_report(run_dir: Path, title: str, sections: list[str]) -> Path:
    path = run_dir / "report.md"
    path.write_text(f"# {title}\n\n" + "\n".join(sections) + "\n", encoding="utf-8")
    return path
