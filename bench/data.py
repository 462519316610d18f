"""Data-layer performance: validate a generated 100,000-line chat JSONL file. Prints figures and ratios.

    .venv/bin/python bench/data.py            (make bench)

Goal: the full validation (JSON, fields, roles, empty turns, duplicates) of 100,000 lines in 10 s or less on
2 cores. Baselines, timed in the same run on the same file, are what a user would otherwise run to read it:
pandas.read_json(lines=True) and datasets.load_dataset("json") — both only parse, they check nothing.
Also timed: the same validation with exact token lengths (chat template + the builtin model's tokenizer).
"""
from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ROWS = 100_000
GOAL_SECONDS = 10.0
DRUGS = ["warfarin", "fluconazole", "metformin", "atorvastatin", "clarithromycin", "sertraline", "tramadol",
         "lisinopril", "spironolactone", "amiodarone", "digoxin", "simvastatin", "omeprazole", "clopidogrel"]


def generate(path: Path, rows: int = ROWS) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(rows):
            a, b = rng.sample(DRUGS, 2)
            label = rng.choice(["interaction", "no interaction"])
            fh.write(json.dumps({"messages": [
                {"role": "system", "content": "You are a clinical pharmacology assistant."},
                {"role": "user", "content": f"Case {i}: is there an interaction between {a} and {b}? "
                                            "Answer interaction or no interaction."},
                {"role": "assistant", "content": label}]}) + "\n")


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    from models.tokenizers import token_counter
    from data.validation import validate

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chat.jsonl"
        generate(path)
        size_mb = path.stat().st_size / 1e6
        print(f"file: {ROWS:,} lines, {size_mb:.1f} MB, cpus: {os.cpu_count()}")

        seconds, (report, _) = timed(lambda: validate(path))
        assert report.valid == ROWS and report.errors == 0, report.text()
        print(f"validate (all checks):          {seconds:6.2f} s  {ROWS / seconds:>9,.0f} rows/s  "
              f"goal ≤ {GOAL_SECONDS:.0f} s: {'met' if seconds <= GOAL_SECONDS else 'MISSED'}")

        import pandas as pd

        pandas_s, _ = timed(lambda: pd.read_json(path, lines=True))
        print(f"pandas.read_json (parse only):  {pandas_s:6.2f} s  {ROWS / pandas_s:>9,.0f} rows/s  "
              f"validate / pandas = {seconds / pandas_s:.2f}")

        import datasets

        datasets.disable_progress_bars()
        hf_s, _ = timed(lambda: datasets.load_dataset("json", data_files=str(path), split="train",
                                                      cache_dir=str(Path(tmp) / "hf-cache")))
        print(f"datasets.load_dataset (parse):  {hf_s:6.2f} s  {ROWS / hf_s:>9,.0f} rows/s  "
              f"validate / datasets = {seconds / hf_s:.2f}")

        counter = token_counter("builtin:smollm2-135m-instruct")
        tok_s, (report, _) = timed(lambda: validate(path, max_tokens=128, token_counter=counter))
        print(f"validate + token lengths:       {tok_s:6.2f} s  {ROWS / tok_s:>9,.0f} rows/s  "
              f"(SmolLM2 tokenizer, chat template applied; max {max(report.token_lengths)} tokens)")


if __name__ == "__main__":
    main()
