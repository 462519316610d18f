"""Preference pairs from a model's own mistakes: from a finished evaluation, every item the model got wrong becomes
a DPO pair whose chosen answer is the reference and whose rejected answer is what the model wrote. This closes
the loop evaluate → pairs → DPO → evaluate.

    python -m training pairs --from-eval row:12 --out ddi-mistakes.jsonl
    python -m training pairs --from-eval runs/evaluation-20250101-120000 --out pairs.jsonl --metric accuracy

--from-eval is a leaderboard row (`row:12` or `12`), an evaluation run (its id, or its folder: every
predictions.jsonl under it), or one predictions.jsonl file. An item is wrong when its per-item score (the first
metric that scores items, as the Leaderboard's predictions view sorts by, or --metric) is below --threshold (1:
anything short of right) for a higher-is-better score, above it (default 0) for a lower-is-better one. Items
without a score are left out and counted. The prompt is the item's full prompt (system turn, few-shot examples)
when the benchmark can be rebuilt here (found from the folder's name, or given with --benchmark, a name or a
YAML path), else the prompt as predictions.jsonl recorded it (the last user turn).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from errors import UserError


class PairsError(UserError):
    """The evaluation to build pairs from cannot be found or read; the message names it."""


@dataclass
class Source:
    path: Path  # a predictions.jsonl
    benchmark: str | None = None
    variant: str | None = None  # a leaderboard row is one variant
    model: str | None = None


@dataclass
class Pairs:
    pairs: list = field(default_factory=list)  # data.records.Preference
    items: int = 0
    wrong: int = 0
    unscored: int = 0
    skipped: list[str] = field(default_factory=list)  # why a wrong item gave no pair
    score: str | None = None

    def summary(self) -> str:
        text = (f"{len(self.pairs)} pair(s) from {self.wrong} wrong of {self.items} item(s)"
                + (f" (by {self.score})" if self.score else ""))
        if self.unscored:
            text += f"; {self.unscored} item(s) had no {self.score} score and were left out"
        if self.skipped:
            text += f"; {len(self.skipped)} wrong item(s) gave no pair: " + "; ".join(self.skipped[:5])
        return text


def sources(ref: str) -> list[Source]:
    """The predictions files a --from-eval value names (see the module's doc)."""
    import settings

    text = str(ref).strip()
    row_id = text.removeprefix("row:")
    if row_id.isdigit():
        from evaluation import leaderboard

        row = leaderboard.get(int(row_id))
        if row is None:
            raise PairsError(f"--from-eval {ref}: no leaderboard row {row_id}.")
        if not row.predictions_path or not Path(row.predictions_path).is_file():
            raise PairsError(f"--from-eval {ref}: leaderboard row {row_id}'s predictions file is gone "
                             f"({row.predictions_path or 'none recorded'}).")
        return [Source(Path(row.predictions_path), row.benchmark, row.variant, row.model)]
    path = Path(text)
    if not path.exists() and (settings.runs_dir() / text).is_dir():
        path = settings.runs_dir() / text
    if path.is_file():
        return [Source(path, _benchmark_of(path))]
    if path.is_dir():
        found = sorted(p for p in path.rglob("predictions.jsonl") if "eval-during-training" not in p.parts)
        if not found:
            raise PairsError(f"--from-eval {ref}: {path} holds no predictions.jsonl (is the evaluation finished?).")
        return [Source(p, _benchmark_of(p)) for p in found]
    raise PairsError(f"--from-eval {ref}: not a leaderboard row (row:ID), an evaluation run id or folder in "
                     f"{settings.runs_dir()}, or a predictions.jsonl file.")


def _benchmark_of(path: Path) -> str | None:
    """The benchmark a predictions file belongs to, from its folder: <model>__<benchmark>[/<mode>] (an evaluation
    run) or evaluation/<benchmark>[/<mode>] (a training run's evaluation afterwards)."""
    folder = path.parent
    if folder.name in ("generate", "choice"):
        folder = folder.parent
    name = folder.name.rsplit("__", 1)[-1]
    return name or None


def _prompt_sha(messages: list[dict]) -> str:
    # as evaluation.runner writes it in each row (prompt_sha), to match a row with its rebuilt item
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]


def _items(benchmark: str | None, variant: str) -> dict[int, list[dict]]:
    """index -> the item's full prompt messages, when the benchmark loads here; {} otherwise."""
    if not benchmark:
        return {}
    from evaluation import benchmark as benchmarks

    try:
        return {it.index: it.messages for it in benchmarks.load(benchmark).items(variant)}
    except Exception:  # noqa: BLE001 - a renamed or unavailable benchmark: the recorded prompt is used instead
        return {}


def _rows(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise PairsError(f"{path}, line {number}: not JSON ({exc.msg}); is the evaluation still running?") from None
    return rows


def score_key(rows: list[dict], metric: str | None) -> str | None:
    """The per-item score that decides right and wrong: --metric (a metric or one of its outputs), else the first
    one the rows carry."""
    found = list(dict.fromkeys(k for r in rows for k in (r.get("scores") or {})))
    if metric:
        from evaluation import metrics

        key = metric
        if metric not in found:
            try:
                key = metrics.get(metric).headline
            except metrics.MetricError:
                key = metric
        if key not in found:
            raise PairsError(f"--metric {metric}: the predictions have no per-item {metric} score; they have "
                             f"{', '.join(found) or 'none'}.")
        return key
    return found[0] if found else None


def is_wrong(score: float, key: str, threshold: float | None) -> bool:
    from evaluation.metrics import output_direction

    if output_direction(key) is False:  # lower is better (absolute error)
        return score > (0.0 if threshold is None else threshold)
    return score < (1.0 if threshold is None else threshold)


def from_sources(found: list[Source], *, metric: str | None = None, threshold: float | None = None,
                 benchmark: str | None = None) -> Pairs:
    from data.records import Preference

    out = Pairs()
    for source in found:
        if benchmark:
            source.benchmark = benchmark
        rows = [r for r in _rows(source.path) if source.variant is None or r.get("variant") == source.variant]
        key = score_key(rows, metric)
        if key is None:
            raise PairsError(f"{source.path}: no item has a per-item score, so right and wrong cannot be told apart "
                             "(was the evaluation scored?).")
        out.score = key
        prompts: dict[str, dict] = {}
        for row in rows:
            out.items += 1
            value = (row.get("scores") or {}).get(key)
            if value is None:
                out.unscored += 1
                continue
            if not is_wrong(float(value), key, threshold):
                continue
            out.wrong += 1
            where = f"item {row.get('id', row.get('index'))}"
            output, reference = str(row.get("output") or ""), row.get("reference")
            if not output.strip():
                out.skipped.append(f"{where}: the answer is empty")
                continue
            if reference is None or not str(reference).strip():
                out.skipped.append(f"{where}: no reference")
                continue
            if output.strip() == str(reference).strip():
                out.skipped.append(f"{where}: the answer is the reference itself")
                continue
            variant = str(row.get("variant", "default"))
            if variant not in prompts:
                prompts[variant] = _items(source.benchmark, variant)
            messages = prompts[variant].get(row.get("index"))
            if messages is None or _prompt_sha(messages) != row.get("prompt_sha"):
                messages = [{"role": "user", "content": str(row.get("prompt") or "")}]
            meta = {"id": row.get("id"), "benchmark": Path(source.benchmark).stem if source.benchmark else None,
                    "variant": variant, key: value,
                    "model": source.model}
            out.pairs.append(Preference.pair(messages, str(reference), output, **meta))
    return out


def build(ref: str, out: str | Path, *, metric: str | None = None, threshold: float | None = None,
          fmt: str = "preference", benchmark: str | None = None) -> Pairs:
    """Pairs from the evaluation `ref`, written to `out` (all or nothing)."""
    from data.export import write_preferences

    result = from_sources(sources(ref), metric=metric, threshold=threshold, benchmark=benchmark)
    if not result.pairs:
        raise PairsError(f"--from-eval {ref}: {result.summary()}; nothing to write.")
    write_preferences(result.pairs, out, fmt)
    return result


def main(argv=None) -> int:
    from data.export import PREFERENCE_EXPORT_FORMATS

    parser = argparse.ArgumentParser(prog="python -m training pairs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from-eval", required=True, dest="source",
                        help="a leaderboard row (row:ID), an evaluation run (id or folder), or a predictions.jsonl")
    parser.add_argument("--out", required=True, help="the preference file to write (JSONL)")
    parser.add_argument("--metric", help="the per-item score that decides wrong (default: the first one scored)")
    parser.add_argument("--threshold", type=float, help="wrong below this (higher-is-better scores; default 1) or "
                        "above it (lower-is-better; default 0)")
    parser.add_argument("--benchmark", help="the benchmark (name or YAML path) whose items give the full prompts "
                        "(default: from the folder's name)")
    parser.add_argument("--format", default="preference", choices=PREFERENCE_EXPORT_FORMATS,
                        help="preference (prompt/chosen/rejected, the default), openai_preference, or kto (unpaired)")
    args = parser.parse_args(argv)
    from data.records import DataError

    try:
        result = build(args.source, args.out, metric=args.metric, threshold=args.threshold, fmt=args.format,
                       benchmark=args.benchmark)
    except (PairsError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{result.summary()} → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
