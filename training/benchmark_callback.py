"""Benchmark metrics during training, kept cheap: every eval_every steps, the model being trained answers the first
`eval_benchmark_limit` items of each benchmark in `eval_benchmarks` (greedy, batched), and the scores go to
events.jsonl as "eval_benchmark" events beside the eval loss. Nothing lands on the leaderboard: those rows come
from the full evaluation after training."""
from __future__ import annotations

import copy
from pathlib import Path


def benchmark_callback(config, run_dir: Path, emit, tokenizer):
    from transformers import TrainerCallback

    class BenchmarkDuringTraining(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            every = int(config.eval_every or 0)
            if not every or state.global_step % every or not state.is_world_process_zero:
                return
            score(model, state.global_step)

    def score(model, step: int):
        from evaluation import benchmark as benchmarks
        from evaluation.runner import Options, evaluate
        from models.registry import CACHE
        from models.transformers_backend import TransformersChatModel

        ref = f"run:{run_dir.name}@step-{step}"
        was_training = model.training
        # A copy of the tokenizer: generation pads on the left, training batches must not change.
        CACHE.get(ref, lambda: TransformersChatModel(ref, model, copy.deepcopy(tokenizer)))
        try:
            for name in config.eval_benchmarks:
                bench = benchmarks.load(name)
                out = run_dir / "eval-during-training" / f"step-{step}" / name
                for result in evaluate(ref, bench, out, Options(limit=int(config.eval_benchmark_limit), batch_size=8)):
                    emit("eval_benchmark", step=step, benchmark=name, variant=result.variant, items=result.items,
                         metrics=result.metrics)
        finally:
            CACHE.clear()
            if was_training:
                model.train()

    return BenchmarkDuringTraining()
