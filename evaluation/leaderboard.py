"""The leaderboard: evaluation results in the store, and the tables the Leaderboard tab and the CLI show.

Columns come from the metric registry (name + arrow for the direction). Rows are added in one transaction per
evaluation, so a cancelled or failed run never leaves part of a result behind. Each number carries the 95 %
bootstrap interval the runner stored (details["intervals"]); two rows that scored the same items are compared
with paired tests (evaluation.intervals) recomputed from their per-item lines in predictions.jsonl.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

ARROW = {True: "↑", False: "↓", None: ""}
TEST_COLUMNS = ["delta low", "delta high", "p-value", "test", "significant at 0.05"]


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


def interval_columns(output: str) -> tuple[str, str]:
    """The CSV's columns of an output's 95 % bootstrap interval."""
    return f"{output} low", f"{output} high"


def table(benchmark: str | None = None, model: str = "", method: str = "", intervals: bool = False):
    """A DataFrame of the leaderboard: one row per (model, benchmark, variant, mode) result, best first. With
    intervals, each metric's 95 % bootstrap interval follows in `<output> low` / `<output> high` columns at the
    end (the CSV export and the tab's ± read them)."""
    import pandas as pd

    from evaluation.metrics import output_direction

    found = rows(benchmark, model, method)
    columns = metric_columns(benchmark, found)
    records = []
    for r in found:
        record = {"id": r.id, "model": r.model, "method": r.method, "benchmark": r.benchmark, "variant": r.variant}
        found_intervals = (r.details or {}).get("intervals") or {}
        for c in columns:
            value = r.metrics.get(c)
            record[column_title(c)] = None if value is None else round(float(value), 4)
            low, high = found_intervals.get(c) or (None, None)
            record.update(zip(interval_columns(c), (_rounded(low), _rounded(high))))
        record.update({"mode": (r.details or {}).get("mode", "generate"), "items": r.items, "cost $": r.cost_usd,
                       "date": r.created.strftime("%Y-%m-%d %H:%M"), "run": r.run_id or "", "config": r.config_hash})
        records.append(record)
    frame = pd.DataFrame(records, columns=["id", "model", "method", "benchmark", "variant",
                                           *[column_title(c) for c in columns],
                                           "mode", "items", "cost $", "date", "run", "config",
                                           *[name for c in columns if intervals for name in interval_columns(c)]])
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


def _rounded(value):
    return None if value is None else round(float(value), 4)


def with_interval(value, low=None, high=None) -> str:
    """`0.62 ± 0.05`: the value and the half-width of its 95 % interval, to the interval's precision."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if low is None or high is None or any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        return f"{float(value):.4g}"
    half = (float(high) - float(low)) / 2
    if half <= 0:
        return f"{float(value):.4g} ± 0"
    exponent = math.floor(math.log10(half))
    digits = min(6, max(0, -exponent + (1 if half / 10 ** exponent < 3 else 0)))  # two digits when it starts 1 or 2
    return f"{float(value):.{digits}f} ± {half:.{digits}f}"


# -- comparing two rows ---------------------------------------------------------------------------------------------
@dataclass
class Pairing:
    """Whether two rows scored the same items, and then each metric's paired test (b − a)."""

    a: object
    b: object
    items: int = 0  # shared items
    reason: str = ""  # why there is no test, as a sentence
    tests: dict = field(default_factory=dict)  # output -> intervals.PairedTest

    def sentence(self) -> str:
        """What the tests say, in words: which metrics differ significantly at 0.05, and which do not."""
        from evaluation import intervals
        from evaluation.metrics import output_direction

        if self.reason:
            return self.reason
        better, worse, different, same, untested = [], [], [], [], []
        for output, t in self.tests.items():
            title = column_title(output)
            if t.p_value is None:
                untested.append(title)
            elif not t.significant:
                same.append(f"{title} ({_p(t.p_value)})")
            else:
                direction = output_direction(output)
                text = f"{title} ({_p(t.p_value)})"
                if direction is None or not t.delta:
                    different.append(text)
                else:
                    (better if (t.delta > 0) == direction else worse).append(text)
        parts = []
        if better:
            parts.append(f"B is significantly better than A on {_joined_words(better)}")
        if worse:
            parts.append(f"B is significantly worse than A on {_joined_words(worse)}")
        if different:
            parts.append(f"A and B differ significantly on {_joined_words(different)}")
        if same:
            parts.append(f"there is no significant difference on {_joined_words(same)}")
        if untested:
            parts.append(f"{_joined_words(untested)} could not be tested (the table says why)")
        head = (f"Paired tests on the {self.items} items both rows scored (McNemar's exact test for right/wrong "
                f"metrics, a paired bootstrap of {intervals.RESAMPLES:,} resamples for the others; "
                f"significance at {intervals.ALPHA}): ")
        text = "; ".join(parts) or "no metric both rows have"
        return head + text[0].upper() + text[1:] + "."


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}" if p < 0.01 else f"p = {p:.3f}".rstrip("0").rstrip(".")


def _joined_words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _item_rows(row) -> list[dict] | None:
    """The row's per-item lines in predictions.jsonl (its variant only); None when the file is gone."""
    path = Path(row.predictions_path or "")
    if not row.predictions_path or not path.is_file():
        return None
    found = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in found if r.get("variant") == row.variant]


def _scored(row, item_rows: list[dict]) -> list:
    """Each metric of the row rebuilt from its per-item lines, as the runner scored it (details["scoring"])."""
    from evaluation import intervals, metrics

    scoring = (row.details or {}).get("scoring") or {}
    found = []
    for spec in scoring.get("metrics", []):
        try:
            metric = metrics.get(spec["metric"])
        except metrics.MetricError:
            continue
        where = spec.get("where") or {}
        chosen = [i for i, r in enumerate(item_rows) if all((r.get("meta") or {}).get(k) == v for k, v in where.items())]
        own = [item_rows[i] for i in chosen]
        main = spec.get("parser") == scoring.get("parser")
        found.append(intervals.Scored(
            metric, [r.get("parsed") if main else (r.get("parsed_as") or {}).get(spec.get("parser")) for r in own],
            [r.get("reference") for r in own],
            {k: [(r.get("inputs") or {}).get(k) for r in own] for k in metric.extra_inputs()},
            spec.get("options") or {}, {o: row.metrics.get(o) for o in metric.outputs}, chosen,
            [(r.get("scores") or {}).get(metric.headline) for r in own] if metric.item_fn else None,
            spec.get("parser", ""), where))
    return found


def _key(item_row: dict) -> tuple:
    """An item's identity within its benchmark: its id and place (some data sets repeat ids)."""
    return item_row.get("id"), item_row.get("index")


def _same_items(a, b, rows_a, rows_b) -> str:
    """Why the two rows' items cannot be paired ('' when they can)."""
    if rows_a is None or rows_b is None:
        gone = a if rows_a is None else b
        return (f"The per-item predictions of #{gone.id} are gone ({gone.predictions_path or 'no file'}), so there "
                "is no paired test.")
    keys_a, keys_b = [_key(r) for r in rows_a], [_key(r) for r in rows_b]
    digest_a, digest_b = ((x.details or {}).get("items_digest") for x in (a, b))
    same_data = a.config_hash == b.config_hash or (digest_a is not None and digest_a == digest_b)
    if not same_data or len(set(keys_a)) != len(keys_a) or set(keys_a) != set(keys_b):
        common = len(set(keys_a) & set(keys_b))
        return (f"A and B did not score the same items (A {len(keys_a)}, B {len(keys_b)}, {common} in common"
                f"{'' if same_data else '; other data or settings'}), so there is no paired test: compare two rows of "
                "one benchmark run on the same data and limit.")
    refs_b = {_key(r): r.get("reference") for r in rows_b}
    if any(json.dumps(r.get("reference"), default=str) != json.dumps(refs_b[_key(r)], default=str) for r in rows_a):
        return "A and B have the same item ids but different references, so there is no paired test."
    if not ((a.details or {}).get("scoring") and (b.details or {}).get("scoring")):
        old = a if not (a.details or {}).get("scoring") else b
        return (f"#{old.id} was scored before the leaderboard kept what paired tests need; evaluate it again to "
                "compare it with a test.")
    return ""


def paired(id_a: int, id_b: int) -> Pairing:
    """Paired tests of B against A on their shared items; a Pairing with a reason when they share none."""
    from evaluation import intervals

    a, b = get(id_a), get(id_b)
    if a is None or b is None:
        raise KeyError(f"No leaderboard row {id_a if a is None else id_b}")
    rows_a, rows_b = _item_rows(a), _item_rows(b)
    reason = _same_items(a, b, rows_a, rows_b)
    if reason:
        return Pairing(a, b, reason=reason)
    by_key = {_key(r): r for r in rows_b}
    rows_b = [by_key[_key(r)] for r in rows_a]  # B in A's order: item i of one is item i of the other
    outputs = [k for k in a.metrics if k in b.metrics]
    tests = intervals.paired(_scored(a, rows_a), _scored(b, rows_b), a.metrics, b.metrics, outputs)
    return Pairing(a, b, len(rows_a), tests={o: tests[o] for o in outputs if o in tests})


def compare(id_a: int, id_b: int, pairing: Pairing | None = None):
    """Two rows side by side: each metric, the delta (b − a) and whether b is better; when they scored the same
    items, also the delta's 95 % interval, its p-value, the test and whether it is significant at 0.05."""
    import pandas as pd

    from evaluation.metrics import output_direction

    a, b = get(id_a), get(id_b)
    if a is None or b is None:
        raise KeyError(f"No leaderboard row {id_a if a is None else id_b}")
    pairing = pairing if pairing is not None else paired(a.id, b.id)
    records = []
    for key in [k for k in a.metrics if k in b.metrics] + [k for k in b.metrics if k not in a.metrics]:
        va, vb = a.metrics.get(key), b.metrics.get(key)
        delta = None if va is None or vb is None else round(vb - va, 4)
        direction = output_direction(key)
        better = "" if delta in (None, 0) or direction is None else ("b" if (delta > 0) == direction else "a")
        record = {"metric": column_title(key), f"a: {a.model}": va, f"b: {b.model}": vb,
                  "delta (b − a)": delta, "better": better}
        if not pairing.reason:
            t = pairing.tests.get(key)
            record.update(dict(zip(TEST_COLUMNS, [None, None, None, "", ""])))
            if t is not None:
                record.update({"delta low": _rounded(t.low), "delta high": _rounded(t.high),
                               "p-value": None if t.p_value is None else round(t.p_value, 4),
                               "test": t.test if t.p_value is not None else f"none: {t.reason}",
                               "significant at 0.05": "" if t.p_value is None else "yes" if t.significant else "no"})
        records.append(record)
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
