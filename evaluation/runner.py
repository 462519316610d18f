"""The batched evaluation runner: items → model (batched, greedy, seeded) → predictions.jsonl → metrics.

Predictions are appended as each batch finishes, so an interrupted evaluation resumes where it stopped. A
model that fails mid-run leaves its finished items in place and raises EvaluationFailed; scores and leaderboard
rows only exist for complete runs.
"""
from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from evaluation.benchmark import Benchmark, BenchmarkError, Item

Emit = Callable[..., None]  # emit(event_name, **fields): progress for the CLI and events.jsonl


class EvaluationFailed(RuntimeError):
    """The model or data failed mid-run; finished predictions are kept and nothing reaches the leaderboard."""


@dataclass
class VariantResult:
    model: str
    benchmark: str
    variant: str
    metrics: dict[str, float | None]
    details: dict
    items: int
    config_hash: str
    predictions_path: str
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"model": self.model, "benchmark": self.benchmark, "variant": self.variant, "items": self.items,
                "mode": self.details.get("mode", "generate"), "metrics": self.metrics, "config_hash": self.config_hash,
                "intervals": {k: {"low": lo, "high": hi} for k, (lo, hi) in self.details.get("intervals", {}).items()}}


@dataclass
class Options:
    limit: int | None = None
    batch_size: int = 8
    variants: list[str] | None = None  # None: all of the benchmark's variants
    judge: str | None = None  # the QuestEval judge, when a metric takes one
    predictions_file: str | None = None  # score existing outputs instead of running a model
    api_key: str | None = field(default=None, repr=False)


def _noop(event: str, **fields) -> None:
    pass


# -- predictions file ----------------------------------------------------------------------------------------------
def _read_done(path: Path, config_hash: str) -> dict[tuple[str, int], dict]:
    """Finished items of an earlier, interrupted run with the same configuration (others are discarded)."""
    done: dict[tuple[str, int], dict] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill: that item runs again
        if row.get("config_hash") == config_hash:
            done[(row["variant"], row["index"])] = row
    return done


def _prompt_sha(item: Item) -> str:
    return hashlib.sha256(json.dumps(item.messages, sort_keys=True).encode()).hexdigest()[:16]


def _reusable(row: dict | None, item: Item) -> bool:
    """A finished prediction is kept only for exactly the same prompt (a fixed data row runs again)."""
    return row is not None and row.get("prompt_sha") == _prompt_sha(item)


def _prediction_row(item: Item, variant: str, config_hash: str, output: str, gen=None) -> dict:
    return {
        "variant": variant, "index": item.index, "id": item.id, "config_hash": config_hash,
        "prompt_sha": _prompt_sha(item),
        "prompt": item.messages[-1]["content"], "output": output, "reference": item.reference,
        "prompt_tokens": getattr(gen, "prompt_tokens", None), "completion_tokens": getattr(gen, "completion_tokens", None),
    }


# -- generation ------------------------------------------------------------------------------------------------------
def generate_all(model_ref: str, bench: Benchmark, variant: str, items: list[Item], path: Path, config_hash: str,
                 opts: Options, emit: Emit, done: dict) -> None:
    """Generate the items not yet in `done`, appending each batch to `path` as it finishes."""
    params = bench.generation_params()

    def rows(model, batch: list[Item]) -> list[dict]:
        gens = model.generate([it.messages for it in batch], params)
        return [_prediction_row(it, variant, config_hash, gen.text, gen) for it, gen in zip(batch, gens)]

    _run_batches(model_ref, bench, variant, items, path, opts, emit, done, rows, where=variant)


def choose_all(model_ref: str, bench: Benchmark, variant: str, items: list[Item], path: Path, config_hash: str,
               opts: Options, emit: Emit, done: dict) -> None:
    """Choice mode: score every label of the items not yet in `done`, appending each batch to `path` (as
    generate_all does, so a stopped run resumes). Output = the likeliest label; the row keeps its probabilities."""
    def rows(model, batch: list[Item]) -> list[dict]:
        out = []
        for it, scores in zip(batch, model.choice_logprobs([it.messages for it in batch], bench.labels)):
            row = _prediction_row(it, variant, config_hash, scores.best())
            row.update(prompt_tokens=scores.prompt_tokens, completion_tokens=scores.completion_tokens,
                       probabilities=scores.probabilities(),
                       normalised_probabilities=scores.probabilities(normalised=True),
                       logprobs={label: s.logprob for label, s in scores.items()},
                       label_tokens={label: s.tokens for label, s in scores.items()})
            out.append(row)
        return out

    _run_batches(model_ref, bench, variant, items, path, opts, emit, done, rows, where=f"{variant}, choice mode")


def heads_all(model_ref: str, bench: Benchmark, variant: str, items: list[Item], path: Path, config_hash: str,
              opts: Options, emit: Emit, done: dict) -> None:
    """Head mode (evaluation.head): a classification or regression run's head predicts the items not yet in `done`,
    each batch appended to `path` (as generate_all does, so a stopped run resumes). A classifier's rows are choice
    mode's: output = the likeliest label, probabilities = the head's softmax in the benchmark's label order; a
    regression head's output is its number, written so the number parser reads it back exactly."""
    from evaluation import head as heads
    from models.head import load_head

    spec = heads.spec_of(model_ref)
    if spec.task == "classification":
        heads.check_references(items, bench)
    texts = {it.index: heads.input_text(it, spec.input_field, bench) for it in items}  # errors before any load

    def rows(model, batch: list[Item]) -> list[dict]:
        inputs = [texts[it.index] for it in batch]
        predicted, tokens = model.predict(inputs), model.token_counts(inputs)
        out = []
        for it, text, prediction, count in zip(batch, inputs, predicted, tokens):
            if spec.task == "classification":
                probs = heads.in_bench_order(prediction, bench)
                row = _prediction_row(it, variant, config_hash, max(probs, key=probs.get))
                row.update(probabilities=probs, normalised_probabilities=dict(probs))
            else:
                row = _prediction_row(it, variant, config_hash, heads.number_text(prediction))
                row["value"] = float(prediction)
            row.update(input=text, prompt_tokens=count, completion_tokens=0)
            out.append(row)
        return out

    _run_batches(model_ref, bench, variant, items, path, opts, emit, done, rows, where=f"{variant}, head mode",
                 load=lambda: load_head(model_ref.strip().partition(":")[2]))


def _run_batches(model_ref: str, bench: Benchmark, variant: str, items: list[Item], path: Path, opts: Options,
                 emit: Emit, done: dict, rows, *, where: str, load: Callable[[], object] | None = None) -> None:
    """The loop every mode shares: the items not yet in `done`, similar lengths batched together (little compute goes
    to padding; the final file is in item order), each batch's rows appended to `path` as it finishes, progress
    emitted; a model failure keeps the finished items and says how to resume. `load` gives the model (default:
    the chat model the reference resolves to)."""
    from models.errors import ModelError
    from models.openai_chat import usage_source
    from models.registry import resolve

    todo = [it for it in items if not _reusable(done.get((variant, it.index)), it)]
    if not todo:
        return
    todo.sort(key=lambda it: sum(len(m["content"]) for m in it.messages))
    model = load() if load is not None else resolve(model_ref, api_key=opts.api_key)
    start, finished = time.perf_counter(), len(items) - len(todo)
    emit("progress", variant=variant, done=finished, total=len(items), items_per_s=None, eta_s=None)
    with open(path, "a", encoding="utf-8") as fh:
        for b in range(0, len(todo), max(1, opts.batch_size)):
            batch = todo[b: b + opts.batch_size]
            spender = usage_source.set(f"evaluation:{bench.name}")  # OpenAI calls land in the cost ledger as such
            try:
                new_rows = rows(model, batch)
            except (ModelError, RuntimeError, OSError, ValueError) as exc:
                kept = sum(1 for k in done if k[0] == variant)
                raise EvaluationFailed(
                    f"{model_ref} failed on {bench.name} ({where}) at item {batch[0].index + 1}: "
                    f"{str(exc).rstrip('.')}. "
                    f"The {kept} finished items are kept in {path}; run again to resume."
                ) from exc
            finally:
                usage_source.reset(spender)
            for it, row in zip(batch, new_rows):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                done[(variant, it.index)] = row
            fh.flush()
            finished += len(batch)
            rate = (b + len(batch)) / max(time.perf_counter() - start, 1e-9)
            emit("progress", variant=variant, done=finished, total=len(items), items_per_s=round(rate, 3),
                 eta_s=round((len(items) - finished) / rate, 1))


def read_predictions_file(path: str | Path, items: list[Item], variant: str, config_hash: str,
                          all_ids: set[str] | None = None) -> dict:
    """Existing outputs (JSONL: id + prediction, or OpenAI batch output lines) matched to the items by id, or by
    order when lines carry no id. With --limit, `all_ids` holds every item's id: lines for later items are
    skipped, and only ids that are in no item are errors."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"No predictions file {path}")
    by_id = {it.id: it for it in items}
    rows: dict[tuple[str, int], dict] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    position = 0  # among non-blank lines: the item an id-less line answers
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        position += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"{path.name} line {n}: not valid JSON ({exc.msg}, column {exc.colno})")
        item_id, text, key = _prediction_fields(obj)
        if text is None:
            raise BenchmarkError(f"{path.name} line {n}: no prediction (give a 'prediction' field, or an OpenAI "
                                 f"batch line with response.body.choices[0].message.content)")
        if not isinstance(text, str) or not text.strip():
            raise BenchmarkError(f"{path.name} line {n}, {key}: the prediction is empty")
        if item_id is None:
            if position > len(items) and all_ids is not None and position <= len(all_ids):
                continue  # beyond --limit
            item_id = items[position - 1].id if position <= len(items) else None
        item = by_id.get(str(item_id))
        if item is None and all_ids is not None and str(item_id) in all_ids:
            continue  # an item beyond --limit
        if item is None:
            raise BenchmarkError(f"{path.name} line {n}, id: {item_id!r} is not an item of this benchmark")
        rows[(variant, item.index)] = _prediction_row(item, variant, config_hash, text)
    missing = [it.id for it in items if (variant, it.index) not in rows]
    if missing:
        raise BenchmarkError(f"{path.name}: no prediction for {len(missing)} of {len(items)} items "
                             f"(first ids: {', '.join(missing[:5])}); use --limit to score the first N only")
    return rows


def _prediction_fields(obj) -> tuple[object, object, str]:
    if not isinstance(obj, dict):
        return None, None, ""
    item_id = obj.get("id", obj.get("custom_id"))
    for key in ("prediction", "output", "completion", "text"):
        if key in obj:
            return item_id, obj[key], key
    try:
        return item_id, obj["response"]["body"]["choices"][0]["message"]["content"], "response.body"
    except (KeyError, IndexError, TypeError):
        return item_id, None, ""


# -- scoring ---------------------------------------------------------------------------------------------------------
def score(bench: Benchmark, items: list[Item], outputs: list[str], opts: Options,
          strict: bool = True, intervals: bool = True) -> tuple[dict, dict, list[dict]]:
    """Metric values, details and per-item parsed answers and scores for one variant. With strict=False a metric
    that has nothing to score in these items (no keywords in a group) is left out instead of failing. With
    intervals, details get each output's 95 % bootstrap interval and the rows what a paired compare recomputes."""
    from evaluation import intervals as stats, metrics, parsers

    values: dict[str, float | None] = {}
    details: dict = {"empty_answers": sum(1 for o in outputs if not (o or "").strip())}
    per_item: list[dict] = [{"parsed": None, "scores": {}} for _ in items]
    main_parser = parsers.get(bench.parser)
    to_resample: list[stats.Scored] = []
    for i, out in enumerate(outputs):
        per_item[i]["parsed"] = main_parser.fn(out, labels=bench.labels)
    for spec in bench.metrics:
        metric = metrics.get(spec.name)
        if metric.derived_from:
            continue
        chosen = [i for i, it in enumerate(items) if all(it.meta.get(k) == v for k, v in spec.where.items())]
        if not chosen:
            continue
        parser = parsers.get(spec.parser) if spec.parser else main_parser
        preds = [parser.fn(outputs[i], labels=bench.labels) for i in chosen]
        refs = [items[i].reference for i in chosen]
        inputs = {k: [items[i].inputs.get(k) for i in chosen] for k in metric.extra_inputs()}
        options = _options(metric, spec, bench, opts)
        try:
            result = metrics.compute(spec.name, preds, refs, **inputs, **options)
        except metrics.MetricError:
            if strict:
                raise
            continue
        scores = metrics.Scores()
        scores.add(metric, result)
        values.update(scores.values)
        details.update(scores.details)
        if metric.item_fn:
            for i, pred, ref in zip(chosen, preds, refs):
                extra = {k: items[i].inputs.get(k) for k in metric.extra_inputs()}
                per_item[i]["scores"][metric.headline] = metric.item_fn(pred, ref, **extra)
        to_resample.append(stats.Scored(metric, preds, refs, inputs, options, scores.values, chosen,
                                        [per_item[i]["scores"].get(metric.headline) for i in chosen]
                                        if metric.item_fn else None, spec.parser or bench.parser, dict(spec.where)))
    for spec in bench.metrics:
        metric = metrics.get(spec.name)
        if metric.derived_from:
            values.update(metric.fn([], [], scores=values))
    if intervals:
        derived = [metrics.get(s.name) for s in bench.metrics if metrics.get(s.name).derived_from]
        details.update(stats.for_variant(to_resample, len(items), derived, values))
        details["scoring"] = stats.scoring_record(to_resample, bench.parser)
        details["items_digest"] = stats.items_digest(items)
        stats.keep_for_pairing(per_item, items, to_resample, bench.parser)
    return values, details, per_item


def _options(metric, spec, bench: Benchmark, opts: Options) -> dict:
    options = dict(spec.options)
    if "labels" in metric.options and "labels" not in options and bench.labels:
        options["labels"] = bench.labels
    if "judge" in metric.options and opts.judge:
        options["judge"] = opts.judge
    return options


def group_scores(bench: Benchmark, items: list[Item], outputs: list[str], opts: Options) -> dict:
    """Light metrics per group (e.g. per task type), for the base vs fine-tuned table."""
    from evaluation import metrics

    if not bench.group_by:
        return {}
    light = [s for s in bench.metrics if not metrics.get(s.name).heavy and not metrics.get(s.name).derived_from]
    sub = Benchmark(**{**bench.__dict__, "metrics": light, "group_by": None})
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(str(it.meta.get(bench.group_by, "other")), []).append(i)
    out = {}
    for name, idx in sorted(groups.items()):
        values, _, _ = score(sub, [items[i] for i in idx], [outputs[i] for i in idx], opts, strict=False,
                             intervals=False)
        out[name] = {"items": len(idx), **values}
    return out


# -- one model on one benchmark ------------------------------------------------------------------------------------
def evaluate(model_ref: str, bench: Benchmark, out_dir: Path, opts: Options, emit: Emit = _noop) -> list[VariantResult]:
    """Run (or resume) every chosen variant and score it. Raises EvaluationFailed, BenchmarkError, ModelError."""
    from data.io import atomic_write
    from models.run import head_task

    task = None if opts.predictions_file else head_task(model_ref)
    if task and bench.modes != ["head"]:  # a classification or regression run is scored from its head: one result
        from evaluation.head import benchmark_for

        bench = benchmark_for(model_ref, bench)
    if len(bench.modes) > 1:  # each mode is its own evaluation (own folder, hash and rows): never mixed
        modes = ["generate"] if opts.predictions_file else bench.modes  # a file of answers has no probabilities
        return [r for mode in modes for r in evaluate(model_ref, bench.for_mode(mode), out_dir / mode, opts, emit)]
    choice = bench.modes == ["choice"]
    head = bench.modes == ["head"]
    if choice and opts.predictions_file:
        raise BenchmarkError(f"{bench.name} is scored in choice mode, from the model's probability of each label; "
                             "a predictions file holds written answers only: score it with mode: generate")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "predictions.jsonl"
    # Resuming needs the same settings (and reuses an item only for the same prompt); the leaderboard's hash also
    # covers the data files' bytes, so two rows with one hash scored the same items the same way.
    resume_hash = bench.config_hash(limit=opts.limit, model=model_ref, predictions=bool(opts.predictions_file))
    config_hash = bench.config_hash(limit=opts.limit, data=bench.data_digest())  # not the model: rows compare
    variants = opts.variants or bench.variant_names()
    done = {} if opts.predictions_file else _read_done(path, resume_hash)
    if not opts.predictions_file and path.exists() and not done:
        path.unlink()  # another configuration's predictions: start clean
    if done:
        emit("resume_items", items=len(done), path=str(path))
    start = time.perf_counter()
    results: list[VariantResult] = []
    all_rows: list[dict] = []
    for variant in variants:
        items = bench.items(variant, opts.limit)
        if opts.predictions_file:
            every = {it.id for it in bench.items(variant)} if opts.limit else None
            done.update(read_predictions_file(opts.predictions_file, items, variant, resume_hash, every))
        elif choice:
            choose_all(model_ref, bench, variant, items, path, resume_hash, opts, emit, done)
        elif head:
            heads_all(model_ref, bench, variant, items, path, resume_hash, opts, emit, done)
        else:
            generate_all(model_ref, bench, variant, items, path, resume_hash, opts, emit, done)
        rows = [done[(variant, it.index)] for it in items]
        outputs = [r["output"] for r in rows]
        if choice or (head and task == "classification"):  # the probability metrics' inputs (score() reads them)
            for it, row in zip(items, rows):
                it.inputs["probabilities"] = row["probabilities"]
                it.inputs["normalised_probabilities"] = row["normalised_probabilities"]
        emit("scoring", variant=variant, metrics=[m.name for m in bench.metrics])
        values, details, per_item = score(bench, items, outputs, opts)
        groups = group_scores(bench, items, outputs, opts)
        if groups:
            details["groups"] = groups
        details["mode"] = bench.modes[0]
        details["prompt_tokens"] = sum(r.get("prompt_tokens") or 0 for r in rows)
        details["completion_tokens"] = sum(r.get("completion_tokens") or 0 for r in rows)
        if model_ref.startswith("openai:") and not opts.predictions_file:  # the leaderboard's cost column
            from openai_ft.pricing import PriceError, load as load_prices

            try:
                details["cost_usd"] = load_prices().inference_cost(model_ref, details["prompt_tokens"],
                                                                   details["completion_tokens"])
            except PriceError:
                details["cost_usd"] = None
        for row, extra in zip(rows, per_item):
            row.update(extra)
        all_rows += rows
        results.append(VariantResult(model_ref, bench.name, variant, values, details, len(items), config_hash,
                                     str(path.resolve()), time.perf_counter() - start))
    with atomic_write(path) as fh:  # the final file carries parsed answers and per-item scores
        for row in all_rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    if len(results) > 1:
        spread = robustness(results)
        for r in results:
            r.details["robustness"] = spread
    return results


def robustness(results: list[VariantResult]) -> dict:
    """Mean and standard deviation of each metric across prompt variants, with each variant's value."""
    out = {}
    for key in results[0].metrics:
        per_variant = {r.variant: r.metrics.get(key) for r in results}
        numbers = [v for v in per_variant.values() if isinstance(v, (int, float)) and not math.isnan(v)]
        if len(numbers) < 2:
            continue
        out[key] = {"mean": statistics.fmean(numbers), "std": statistics.stdev(numbers), "variants": per_variant}
    return out
