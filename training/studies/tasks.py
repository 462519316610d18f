"""Task comparison: SFT vs DPO vs GRPO (or any training tasks) on one benchmark, as one study.

Each arm is the base training config with a few fields changed — its task, usually its data set (DPO reads
preference pairs, GRPO prompts with references) and its task settings (`preference:`, `grpo:`) — trained for the
same steps on the same base model, method and seed (any other field an arm changes, such as a GRPO batch size or a
DPO learning rate, is listed in the report's "also changed" column), then scored on the study's benchmark, whose rows land on
the leaderboard (so any two arms can be compared there with paired tests). A validation loss means something
different for each task, so the primary metric must be a benchmark metric.
"""
from __future__ import annotations

from pathlib import Path

from training.config import ConfigError
from training.studies import common

NOT_CHANGED = ("base_model", "method", "max_steps", "seed")  # what makes the arms comparable


def arms(study, base) -> list[tuple[str, object]]:
    """(name, TrainConfig) of every arm; a wrong field is refused naming the arm."""
    from training.config import TrainConfig

    found, names = [], []
    for i, arm in enumerate(study.arms or []):
        where = f"arms[{i}]"
        if not isinstance(arm, dict) or "task" not in arm:
            raise ConfigError(f"{where}: each arm is a mapping with at least a task, e.g. {{task: dpo, dataset: "
                              "pairs.jsonl}}")
        arm = dict(arm)
        name = str(arm.pop("name", None) or arm["task"])
        fixed = [key for key in NOT_CHANGED if key in arm]
        if fixed:
            raise ConfigError(f"{where} ({name}): {', '.join(fixed)} is the same for every arm (set it in train:), so "
                              "that only the task, data and task settings differ")
        if name in names:
            raise ConfigError(f"{where}: the name {name!r} is used twice; give each arm its own (name: ...)")
        names.append(name)
        spec = {**base.to_dict(), **arm}
        from training.tasks import TASKS

        own = TASKS[arm["task"]].section if arm["task"] in TASKS else None
        for section in {t.section for t in TASKS.values() if t.section}:  # another task's section stays out
            if section in spec and section not in arm and section != own:
                spec.pop(section)
        try:
            found.append((name, TrainConfig.from_dict(spec, where)))
        except ConfigError as exc:
            raise ConfigError(f"{where} ({name}): {exc}") from None
    return found


def check(study, base):
    if len(study.arms or []) < 2:
        raise ConfigError("arms: a task comparison needs at least two arms, e.g. [{task: sft}, {task: dpo, dataset: "
                          "pairs.jsonl}, {task: grpo, grpo: {rewards: [...]}}]")
    if not study.benchmark:
        raise ConfigError("benchmark: a task comparison scores every arm on one benchmark; name it (benchmark).")
    if study.metric.startswith("eval_"):
        raise ConfigError(f"metric {study.metric}: a validation loss is not comparable across tasks (DPO's and "
                          "GRPO's losses measure other things); choose a metric of the benchmark.")
    arms(study, base)


def run(study, run_dir: Path, emit) -> dict:
    base = study.base_config()
    rows = []
    for (name, config), arm in zip(arms(study, base), study.arms):
        row = common.train_run(study, run_dir, name, config, emit)
        changed = ", ".join(k for k in arm if k not in ("name", "task", "dataset"))
        rows.append({**row, "arm": name, "task": config.task, "dataset": config.dataset, "changes": changed or "—",
                     study.metric: common.value(row, study.metric),
                     "train_seconds": (row.get("metrics") or {}).get("train_seconds")})
    done = [r for r in rows if r[study.metric] is not None]
    best = (min if study.lower_is_better() else max)(done, key=lambda r: r[study.metric]) if done else None
    sections = [
        f"{study.metric} on {study.benchmark} (first {study.benchmark_limit} items) after {base.max_steps} steps of "
        f"{base.method.name} on {base.base_model}, one arm per task.", "",
        common.table(rows, [("arm", "arm"), ("task", "task"), ("dataset", "data"), ("changes", "also changed"),
                            (study.metric, study.metric),
                            ("train_seconds", "training time (s)"), ("state", "state"), ("run_id", "run")]),
        (f"**Best: {best['arm']}** ({study.metric} {best[study.metric]:.4g}). Compare any two arms' rows on the "
         "Leaderboard for a paired test before calling a difference real.") if best else
        "No arm finished, so there is no comparison."]
    common.write_report(run_dir, f"Task comparison {run_dir.name}", sections)
    return {"study": study.study, "rows": rows, "best": best["arm"] if best else None}
