"""How fast the OpenAI cost estimate is: checks + exact token counts + pricing for a 10,000-example JSONL.

Prints examples/s of `openai_ft.estimate.estimate` (the whole thing: reading, checks, counting) and of
the cookbook's plain loop (tiktoken's encode per message) on the same file, the ratio, and checks that both
counts agree. The file mimics the DDI study's prompts (a shared system prompt, names + SMILES, a label).
Usage: .venv/bin/python bench/openai_estimate.py [--examples 10000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SYSTEM = "You are a clinical pharmacology assistant. Answer with exactly one of: interaction, no interaction."


def make_file(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            user = (f"Drug 1: compound-{i}\nSMILES: C{'C' * (i % 37)}(=O)N{i % 97}c1ccc{'C' * (i % 5)}cc1\n"
                    f"Drug 2: agent-{i * 7 % 1013}\nSMILES: O=C(O)c1ccccc1{'O' * (i % 3)}N{i}\n"
                    "Is there a clinically relevant interaction between these two drugs?")
            fh.write(json.dumps({"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user},
                                              {"role": "assistant", "content": "interaction" if i % 3 else
                                               "no interaction"}]}) + "\n")


def naive(path: Path) -> int:
    from openai_ft.tokens import count_messages_naive

    with open(path, encoding="utf-8") as fh:
        return sum(count_messages_naive(json.loads(line)["messages"]) for line in fh)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("PHARMATUNE_RUNS", tempfile.mkdtemp(prefix="bench-openai-"))
    from openai_ft import tokens
    from openai_ft.estimate import estimate

    start = time.perf_counter()
    tokens.encoding("o200k_base")
    print(f"loading o200k_base from bpe-openai through tiktoken's cache: {time.perf_counter() - start:.2f} s (once)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        make_file(path, args.examples)
        ours, plain, counts = [], [], set()
        for r in range(args.repeats):
            start = time.perf_counter()
            est = estimate(path, "gpt-4o-2024-08-06", 3)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            total = naive(path)
            plain.append(time.perf_counter() - start)
            counts.add((est.tokens_per_epoch, total))
            print(f"  repeat {r + 1}/{args.repeats}: estimate {ours[-1]:.2f} s   plain tiktoken loop {plain[-1]:.2f} s")
    ours_s, plain_s = statistics.median(ours), statistics.median(plain)
    (billed, total), = counts
    print(f"\nmachine: {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
          f"tiktoken {__import__('tiktoken').__version__}")
    print(f"file: {args.examples:,} chat examples, {billed:,} billed tokens per epoch; "
          f"${est.cost_usd:,.2f} for 3 epochs on gpt-4o-2024-08-06; {est.checks.errors} errors")
    print(f"estimate (checks + counts + price): {ours_s:.2f} s = {args.examples / ours_s:,.0f} examples/s "
          f"(median of {args.repeats})   goal ≤ 5 s: {'met' if ours_s <= 5 else 'NOT met'}")
    print(f"plain loop (json + tiktoken encode per message, counts only): {plain_s:.2f} s = "
          f"{args.examples / plain_s:,.0f} examples/s")
    print(f"speed-up: {plain_s / ours_s:.2f}x   counts equal: {billed == total}")
    return 0 if billed == total else 1


if __name__ == "__main__":
    sys.exit(main())
