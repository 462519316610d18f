"""Search cost: full-budget grid search against the pruned search and the early-score search, same run.

    .venv/bin/python bench/search.py [--steps 24] [--eval-every 2] [--seeds 0 1 2]

The model is a tiny random Llama (tests/conftest.build_tiny_llama) fine-tuned in full on 32 short chat records,
validated on 16; the fixed search space is learning rate × batch size (9 × 4 = 36 configurations):

- grid: every configuration trained for --steps steps (what a user does without a pruner);
- pruned: the same 36 configurations in a seeded random order, with successive halving (min resource one
  evaluation, reduction factor 4): every configuration starts, the weak ones stop at the first rungs;
- early-score: the same 36, each scored at 20 % of --steps, then the best 3 trained to the end.

All three run through training.search.engine (the real recipe in this process). Compute is training steps run
(phase 2 included); the best validation loss is the best full-length trial's. The goals: the pruned search ends
within 5 % of the grid's best loss using at most 35 % of its steps, and prunes at least 70 % of its trials. The
pruned and early-score searches are sampled with several seeds (--seeds); each seed's figures are printed and
the worst one is held against the goals.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPACE = {"learning_rate": [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2], "batch_size": [2, 4, 8, 16]}


def build(folder: Path) -> dict:
    from tests.conftest import build_tiny_llama
    from tests.training.conftest import chat_rows, write_jsonl

    model = build_tiny_llama(folder / "llama")
    train = write_jsonl(folder / "train.jsonl", chat_rows(32))
    val = write_jsonl(folder / "val.jsonl", chat_rows(16)[::-1])
    return {"dataset": str(train), "eval_dataset": str(val), "base_model": f"hf:{model}", "batch_size": 4,
            "max_length": 64, "tensorboard": False, "method": {"name": "full"}, "schedule": "linear", "seed": 0}


def search(name: str, train: dict, steps: int, eval_every: int, seed: int, folder: Path, **fields) -> dict:
    from training.search import engine
    from training.search.config import SearchConfig

    spec = {"train": {**train, "max_steps": steps}, "space": {k: {"type": "categorical", "choices": v}
                                                             for k, v in SPACE.items()},
            "trials": 36, "trial_steps": steps, "eval_every": eval_every, "seed": seed, **fields}
    run_dir = folder / f"{name}-{seed}"
    run_dir.mkdir(parents=True)
    started = time.time()
    summary = engine.run(SearchConfig.from_dict(spec), run_dir, lambda event, **f: None)
    values = [f["value"] for f in summary["finals"]] if summary["finals"] else None
    if values is None:  # single protocol: the best complete phase-1 trial ran the full length
        values = [summary["best"]["value"]]
    phase1 = summary["phases"][0]
    return {"search": name, "seed": seed, "steps": summary["steps_total"], "best_loss": min(values),
            "pruned_percent": phase1["pruned_percent"], "trials": phase1["trials"],
            "seconds": round(time.time() - started, 1), "prediction": summary.get("prediction")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)

    import os

    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["PHARMATUNE_RUNS"] = str(folder / "runs")
        os.environ["PHARMATUNE_STORE_URL"] = f"sqlite:///{folder}/store.db"
        train = build(folder)
        rows = [search("grid", train, args.steps, args.eval_every, 0, folder / "runs", sampler="grid",
                       pruner="none", protocol="single")]
        for seed in args.seeds:
            rows.append(search("pruned", train, args.steps, args.eval_every, seed, folder / "runs", sampler="grid",
                               pruner="successive_halving", reduction_factor=4, min_resource=1, protocol="single"))
            rows.append(search("early-score", train, args.steps, args.eval_every, seed, folder / "runs",
                               sampler="grid", pruner="none", protocol="early-score", early_fraction=0.2, top_k=3))
    grid = rows[0]
    print(f"{'search':<12} {'seed':>4} {'steps':>6} {'of grid':>8} {'best loss':>10} {'vs grid':>8} {'pruned %':>9} "
          f"{'seconds':>8}")
    for row in rows:
        row["steps_ratio"] = round(row["steps"] / grid["steps"], 3)
        row["loss_ratio"] = round(row["best_loss"] / grid["best_loss"], 4)
        print(f"{row['search']:<12} {row['seed']:>4} {row['steps']:>6} {row['steps_ratio']:>8.3f} "
              f"{row['best_loss']:>10.4f} {row['loss_ratio']:>8.4f} {row['pruned_percent']:>9.1f} {row['seconds']:>8.1f}")
    pruned = [r for r in rows if r["search"] == "pruned"]
    worst = {"steps_ratio": max(r["steps_ratio"] for r in pruned), "loss_ratio": max(r["loss_ratio"] for r in pruned),
             "pruned_percent": min(r["pruned_percent"] for r in pruned)}
    goals = {"within 5 % of the grid's best loss": worst["loss_ratio"] <= 1.05,
             "at most 35 % of the grid's steps": worst["steps_ratio"] <= 0.35,
             "at least 70 % of trials pruned": worst["pruned_percent"] >= 70}
    print(f"pruned search, worst seed: {worst['steps_ratio']:.1%} of the grid's steps, best loss ×{worst['loss_ratio']:.3f} "
          f"of the grid's, {worst['pruned_percent']:.0f} % pruned")
    for goal, met in goals.items():
        print(f"  {'met' if met else 'NOT met'}: {goal}")
    print(json.dumps({"rows": rows, "goals": goals}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
