"""Data-efficiency curve (the efficient fine-tuning study): train on growing subsets of the training set and find
the saturation point, the smallest size whose score is within epsilon (relative) of the best.

Subsets are nested: the records are shuffled once with the seed and each size takes the first N (the training
config's `limit`). Every size trains with the same budget: max_steps when set, else the same epochs (so each size
sees its data equally often). Sizes above the data set's size are dropped, and the report says so.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from training.config import ConfigError
from training.studies import common


def check(study, base):
    """At least two sizes (epsilon: its metadata, StudyConfig.check)."""
    sizes = study.sizes or []
    if len(sizes) < 2 or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in sizes):
        raise ConfigError(f"sizes {sizes}: give at least two whole numbers of training examples, e.g. [50, 100, 200].")


def saturation(points: list[tuple[int, float]], epsilon: float, lower_is_better: bool) -> int | None:
    """The smallest size within epsilon × |best| of the best score."""
    if not points:
        return None
    best = min(v for _, v in points) if lower_is_better else max(v for _, v in points)
    return min(size for size, v in points if abs(v - best) <= float(epsilon) * abs(best))


def run(study, run_dir: Path, emit) -> dict:
    base = study.base_config()
    available = common.count_examples(base)
    sizes = sorted(set(int(s) for s in study.sizes))
    dropped = [s for s in sizes if s > available]
    sizes = [s for s in sizes if s <= available] or [available]
    rows = []
    for size in sizes:
        row = common.train_run(study, run_dir, f"n{size}", dataclasses.replace(base, limit=size), emit)
        rows.append({"size": size, **row, study.metric: common.value(row, study.metric),
                     "train_seconds": (row.get("metrics") or {}).get("train_seconds")})
    points = [(r["size"], r[study.metric]) for r in rows if r[study.metric] is not None]
    point = saturation(points, study.epsilon, study.lower_is_better())
    plot = _plot(points, point, study, run_dir)
    notes = [f"Sizes above the {available} training examples were dropped: {dropped}."] if dropped else []
    sections = [
        f"{study.metric} against training-set size ({base.method.name} on {base.base_model}, {base.dataset}; "
        f"{'max_steps ' + str(base.max_steps) if base.max_steps else str(base.epochs) + ' epoch(s)'} per size).", "",
        common.table(rows, [("size", "examples"), (study.metric, study.metric), ("train_seconds", "training time (s)"),
                            ("state", "state"), ("run_id", "run")]),
        f"**Saturation point: {point} examples** (the smallest size within {study.epsilon:.0%} of the best score)."
        if point else "No size finished, so there is no saturation point.", "", *notes, "",
        f"![{study.metric} against training-set size]({plot})" if plot else ""]
    common.write_report(run_dir, f"Data-efficiency curve {run_dir.name}", sections)
    return {"study": study.study, "rows": rows, "saturation": point, "dropped_sizes": dropped,
            "available": available}


def _plot(points, point, study, run_dir: Path) -> str | None:
    if not points:
        return None
    fig, ax = common.figure()
    xs, ys = zip(*points)
    ax.plot(xs, ys, marker="o")
    if point is not None:
        ax.axvline(point, color="grey", linestyle="--", label=f"saturation: {point}")
        ax.legend()
    ax.set_xscale("log")
    ax.set_xlabel("training examples")
    ax.set_ylabel(study.metric)
    ax.set_title("Data-efficiency curve")
    return common.save(fig, run_dir / "data_efficiency.png")
