"""The leaderboard: evaluation results in the store, and the tables the Leaderboard tab and the CLI show.

Columns come from the metric registry (name + arrow for the direction). Rows are added in one transaction per
evaluation, so a cancelled or failed run never leaves part of a result behind.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

ARROW = {True: "↑", False: "↓", None: ""}


def describe_model(ref: str) -> tuple[str, str]:
    """(base model, method) of a model reference, for the leaderboard's filter columns."""
    scheme, _, rest = ref.partition(":")
    if scheme == "openai" and rest.startswith("ft:"):
        return f"openai:{rest.split(':')[1]}", "openai-ft"
    if scheme == "file":
        return ref, "predictions"
    describe = _DESCRIBE.get(scheme)
    return describe(ref) if describe else (ref, "base")


def _run_model(ref: str) -> tuple[str, str]:
    """run:<id>: the training run's base model and method, from its config.yaml."""
    import yaml

    import settings

    config = settings.runs_dir() / ref.partition(":")[2] / "config.yaml"
    try:
        spec = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except OSError:
        return ref, "fine-tuned"
    return str(spec.get("base_model") or spec.get("model", ref)), str((spec.get("method") or {}).get("name", "fine-tuned")
                                            if isinstance(spec.get("method"), dict) else spec.get("method", "fine-tuned"))


_DESCRIBE = {"run": _run_model}


def add(results, run_id: str | None) -> list[int]:
    """Write the results of one evaluation (all variants) in a single transaction; returns the row ids."""
    import store
    from store.tables import EvalResult

    rows = []
    with store.session() as s:
        for r in results:
            base, method = describe_model(r.model)
            row = EvalResult(model=r.model, base_model=base, method=method, run_id=run_id, benchmark=r.benchmark,
                             variant=r.variant, metrics=_clean(r.metrics), details=_clean(r.details), items=r.items,
                             config_hash=r.config_hash, cost_usd=r.details.get("cost_usd"),
                             predictions_path=r.predictions_path)
            s.add(row)
            rows.append(row)
        s.flush()
        return [row.id for row in rows]


def _clean(obj):
    """JSON-safe: NaN and infinities become None (no database stores them alike), other objects text."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return json.loads(json.dumps(obj, default=str))


def benchmarks() -> list[str]:
    import store
    from sqlalchemy import select
    from store.tables import EvalResult

    with store.session() as s:
        return sorted(s.scalars(select(EvalResult.benchmark).distinct()))


def rows(benchmark: str | None = None, model: str = "", method: str = "") -> list:
    import store
    from sqlalchemy import select
    from store.tables import EvalResult

    query = select(EvalResult).order_by(EvalResult.created.desc(), EvalResult.id.desc())
    if benchmark:
        query = query.where(EvalResult.benchmark == benchmark)
    if method:
        query = query.where(EvalResult.method == method)
    with store.session() as s:
        found = list(s.scalars(query))
    return [r for r in found if model.lower() in r.model.lower()]


def get(row_id: int):
    import store
    from store.tables import EvalResult

    with store.session() as s:
        return s.get(EvalResult, int(row_id))


def metric_columns(benchmark: str | None, found: list) -> list[str]:
    """Metric outputs in registry order: the benchmark's metrics first, then anything else the rows carry."""
    from evaluation import benchmark as benchmarks, metrics

    order: list[str] = []
    try:
        bench = benchmarks.load(benchmark) if benchmark else None
    except benchmarks.BenchmarkError:
        bench = None
    for spec in bench.metrics if bench else []:
        order += [o for o in metrics.get(spec.name).outputs if o not in order]
    for r in found:
        order += [k for k in r.metrics if k not in order]
    return order


def column_title(output: str) -> str:
    from evaluation.metrics import output_direction

    return f"{output} {ARROW[output_direction(output)]}".strip()


def table(benchmark: str | None = None, model: str = "", method: str = ""):
    """A DataFrame of the leaderboard: one row per (model, benchmark, variant) result, best first."""
    import pandas as pd

    from evaluation.metrics import output_direction

    found = rows(benchmark, model, method)
    columns = metric_columns(benchmark, found)
    records = []
    for r in found:
        record = {"id": r.id, "model": r.model, "method": r.method, "benchmark": r.benchmark, "variant": r.variant}
        for c in columns:
            value = r.metrics.get(c)
            record[column_title(c)] = None if value is None else round(float(value), 4)
        record.update({"items": r.items, "cost $": r.cost_usd, "date": r.created.strftime("%Y-%m-%d %H:%M"),
                       "run": r.run_id or "", "config": r.config_hash})
        records.append(record)
    frame = pd.DataFrame(records, columns=["id", "model", "method", "benchmark", "variant",
                                           *[column_title(c) for c in columns],
                                           "items", "cost $", "date", "run", "config"])
    if columns and not frame.empty:
        first = column_title(columns[0])
        frame = frame.sort_values(first, ascending=output_direction(columns[0]) is False, na_position="last",
                                  kind="stable")
    return frame.reset_index(drop=True)


def predictions(row_id: int):
    """The row's per-item predictions, worst first (by the first metric that scores items)."""
    import pandas as pd

    from evaluation.metrics import output_direction

    row = get(row_id)
    if row is None:
        raise KeyError(f"No leaderboard row {row_id}")
    path = Path(row.predictions_path)
    if not path.is_file():
        return pd.DataFrame(columns=["id", "output", "reference", "parsed", "score"])
    items = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    items = [i for i in items if i.get("variant") == row.variant]
    key = next((k for i in items for k in (i.get("scores") or {})), None)
    frame = pd.DataFrame([{
        "id": i.get("id"), "prompt": i.get("prompt"), "output": i.get("output"), "parsed": _joined(i.get("parsed")),
        "reference": i.get("reference"), "score": (i.get("scores") or {}).get(key) if key else None,
    } for i in items])
    if key and not frame.empty:
        frame = frame.sort_values("score", ascending=output_direction(key) is not False, na_position="first",
                                  kind="stable")
        frame = frame.rename(columns={"score": column_title(key)})
    return frame.reset_index(drop=True)


def _joined(value):
    return value if not isinstance(value, list) else ", ".join(map(str, value))


def compare(id_a: int, id_b: int):
    """Two rows side by side: each metric, the delta (b − a) and whether b is better."""
    import pandas as pd

    from evaluation.metrics import output_direction

    a, b = get(id_a), get(id_b)
    if a is None or b is None:
        raise KeyError(f"No leaderboard row {id_a if a is None else id_b}")
    records = []
    for key in [k for k in a.metrics if k in b.metrics] + [k for k in b.metrics if k not in a.metrics]:
        va, vb = a.metrics.get(key), b.metrics.get(key)
        delta = None if va is None or vb is None else round(vb - va, 4)
        direction = output_direction(key)
        better = "" if delta in (None, 0) or direction is None else ("b" if (delta > 0) == direction else "a")
        records.append({"metric": column_title(key), f"a: {a.model}": va, f"b: {b.model}": vb,
                        "delta (b − a)": delta, "better": better})
    return pd.DataFrame(records)


def compare_groups(id_a: int, id_b: int, metric: str | None = None):
    """Base vs fine-tuned per task type (the benchmark's group_by): both scores and the improvement."""
    import pandas as pd

    a, b = get(id_a), get(id_b)
    if a is None or b is None:
        raise KeyError(f"No leaderboard row {id_a if a is None else id_b}")
    groups_a, groups_b = a.details.get("groups") or {}, b.details.get("groups") or {}
    records = []
    for group in sorted(set(groups_a) | set(groups_b)):
        ga, gb = groups_a.get(group, {}), groups_b.get(group, {})
        keys = [metric] if metric else [k for k in {**ga, **gb} if k != "items"]
        for key in keys:
            va, vb = ga.get(key), gb.get(key)
            records.append({"task type": group, "metric": column_title(key), f"a: {a.model}": va,
                            f"b: {b.model}": vb,
                            "improvement": None if va is None or vb is None else round(vb - va, 4)})
    return pd.DataFrame(records)
