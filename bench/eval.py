"""Evaluation performance: batched generation against one item at a time, choice mode against generation, and
metric throughput.

    .venv/bin/python bench/eval.py [--items 200] [--batch-size 16]       (part of `make bench`)
    .venv/bin/python bench/eval.py --skip-generation --skip-metrics      (choice mode against generation only)

1. The DDI benchmark (the 200 shared validation pairs when ../shared/data is present, else the bundled pairs)
   on the builtin model, batch size 1 and batched, in the same run: greedy outputs must be identical; prints
   items/s of each and the ratio (goal ≥ 3×). Once in evaluation's dtype (float32 on CPU) and once in
   bfloat16 (the chat's dtype), whose answers change with the batch size.
2. Choice mode (each label's log-probability after the prompt) against batched generation on the same items,
   batch by batch in turn so both see the same machine load: items/s of each and the ratio (goal ≥ 3×), with
   each mode's accuracy.
3. BLEU (sacrebleu), ROUGE (rouge-score) and token F1 over 10,000 answer pairs: pairs/s.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REF = "builtin:smollm2-135m-instruct"


def ddi_items(count: int):
    from evaluation import benchmark

    bench = benchmark.load("ddi-binary-shared")
    if bench.availability():
        print(f"note: {bench.availability()}; using the bundled pairs (train + test)")
        bench = benchmark.load("ddi-binary")
        items = bench.items()
        bench.split = "train"
        items = (bench.items() + items)
    else:
        items = bench.items()
    return bench, items[:count]


def generation(count: int, batch_size: int, dtype: str) -> None:
    import torch

    from evaluation.parsers import get as parser
    from models.registry import CACHE, resolve

    os.environ["PHARMATUNE_DTYPE"] = dtype
    CACHE.clear()
    bench, items = ddi_items(count)
    model = resolve(REF)
    params = bench.generation_params()
    conversations = [it.messages for it in items]
    model.generate(conversations[:2], params)  # warm-up: first-call allocations
    start = time.perf_counter()
    single = [model.generate([c], params)[0].text for c in conversations]
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    # As the runner does: similar prompt lengths share a batch, so little compute goes to padding.
    order = sorted(range(len(conversations)), key=lambda i: sum(len(m["content"]) for m in conversations[i]))
    by_index = {}
    for b in range(0, len(order), batch_size):
        chunk = order[b: b + batch_size]
        for i, g in zip(chunk, model.generate([conversations[i] for i in chunk], params)):
            by_index[i] = g.text
    batched = [by_index[i] for i in range(len(conversations))]
    batched_s = time.perf_counter() - start
    same = sum(a == b for a, b in zip(single, batched))
    labels = [parser("label").fn(t, labels=bench.labels) for t in batched]
    correct = sum(l == it.reference for l, it in zip(labels, items))
    print(f"\nmachine: {os.cpu_count()} CPU cores, torch {torch.__version__}, {REF} in "
          f"{next(model.model.parameters()).dtype} (PHARMATUNE_DTYPE={dtype})")
    print(f"DDI items: {len(items)} ({bench.name}), max {params.max_new_tokens} new tokens, greedy")
    print(f"batch size 1:       {single_s:7.1f} s  {len(items) / single_s:6.2f} items/s")
    print(f"batch size {batch_size:<3}      {batched_s:7.1f} s  {len(items) / batched_s:6.2f} items/s")
    print(f"batched ÷ single:   {single_s / batched_s:6.2f}×   goal ≥ 3×: {'met' if single_s / batched_s >= 3 else 'NOT met'}")
    print(f"identical greedy outputs: {same}/{len(items)}; accuracy {correct / len(items):.3f}; "
          f"unparseable {sum(l is None for l in labels)}")


def choice_against_generation(count: int, batch_size: int, dtype: str) -> None:
    import torch

    from evaluation.parsers import get as parser
    from models.registry import CACHE, resolve

    os.environ["PHARMATUNE_DTYPE"] = dtype
    CACHE.clear()
    bench, items = ddi_items(count)
    model = resolve(REF)
    params = bench.generation_params()
    # As the runner does: similar prompt lengths share a batch.
    items = sorted(items, key=lambda it: sum(len(m["content"]) for m in it.messages))
    model.generate([items[0].messages], params)  # warm-up: first-call allocations
    model.choice_logprobs([items[0].messages], bench.labels)
    # Wall time is what a user waits; CPU time (this process, every thread) is the work, and stays fair when
    # other jobs share the machine.
    generate_s = choice_s = generate_cpu = choice_cpu = 0.0
    answers, chosen = [], []
    for b in range(0, len(items), batch_size):
        conversations = [it.messages for it in items[b: b + batch_size]]
        start, cpu = time.perf_counter(), time.process_time()
        answers += [g.text for g in model.generate(conversations, params)]
        generate_s += time.perf_counter() - start
        generate_cpu += time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        chosen += [s.best() for s in model.choice_logprobs(conversations, bench.labels)]
        choice_s += time.perf_counter() - start
        choice_cpu += time.process_time() - cpu
        print(f"  {len(answers)}/{len(items)} items: generate {generate_s:6.1f} s, choice {choice_s:6.1f} s "
              f"({generate_s / choice_s:.2f}× wall, {generate_cpu / choice_cpu:.2f}× CPU time)",
              file=sys.stderr, flush=True)
    parsed = [parser("label").fn(t, labels=bench.labels) for t in answers]
    refs = [it.reference for it in items]
    gen_rate, choice_rate = len(items) / generate_s, len(items) / choice_s
    print(f"\nchoice mode against generation: {len(items)} DDI items ({bench.name}), {REF} in "
          f"{next(model.model.parameters()).dtype} (PHARMATUNE_DTYPE={dtype}), batch size {batch_size}, "
          f"torch {torch.__version__}, {os.cpu_count()} CPU cores")
    print(f"generate (≤{params.max_new_tokens} new tokens): {generate_s:7.1f} s  {gen_rate:6.2f} items/s   accuracy "
          f"{sum(p == r for p, r in zip(parsed, refs)) / len(items):.3f}, unparseable {sum(p is None for p in parsed)}")
    print(f"choice ({len(bench.labels)} labels):          {choice_s:7.1f} s  {choice_rate:6.2f} items/s   accuracy "
          f"{sum(c == r for c, r in zip(chosen, refs)) / len(items):.3f}, unparseable 0")
    ratio = choice_rate / gen_rate
    print(f"choice ÷ generate:           {ratio:6.2f}×   goal ≥ 3×: {'met' if ratio >= 3 else 'NOT met'}   "
          f"(CPU time: {generate_cpu / choice_cpu:.2f}×; load average {os.getloadavg()[0]:.1f} at the end)")


def metric_throughput(pairs: int = 10_000) -> None:
    from data import catalog
    from evaluation.metrics import compute

    answers = [r.answer for r in catalog.load("bundled:drug-qa", "train") if r.answer]
    rng = random.Random(0)
    preds = [rng.choice(answers) for _ in range(pairs)]
    refs = [rng.choice(answers) for _ in range(pairs)]
    print(f"metric throughput over {pairs:,} pairs (drug-QA answers, {sum(map(len, preds)) / pairs:.0f} chars each):")
    for name in ("bleu", "sentence_bleu", "rouge", "token_f1", "exact_match"):
        start = time.perf_counter()
        compute(name, preds, refs)
        seconds = time.perf_counter() - start
        print(f"  {name:14} {seconds:7.2f} s  {pairs / seconds:10,.0f} pairs/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--skip-generation", action="store_true", help="skip batch size 1 against batched")
    parser.add_argument("--skip-choice", action="store_true", help="skip choice mode against generation")
    parser.add_argument("--skip-metrics", action="store_true", help="skip metric throughput")
    parser.add_argument("--dtype", action="append",
                        help="exact (evaluation's default: float32 on CPU), bfloat16, ... (default: exact and bfloat16)")
    args = parser.parse_args()
    if not args.skip_generation:
        for dtype in args.dtype or ["exact", "bfloat16"]:
            generation(args.items, args.batch_size, dtype)
    if not args.skip_choice:
        for dtype in args.dtype or ["exact"]:
            choice_against_generation(args.items, args.batch_size, dtype)
    if not args.skip_metrics:
        metric_throughput()


if __name__ == "__main__":
    main()
