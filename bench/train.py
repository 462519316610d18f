"""Training throughput: the recipe (training.recipe.train) against what a user would write by hand, same run.

    .venv/bin/python bench/train.py [--steps 12] [--warmup 2] [--repeats 3] [--batch-size 4] [--max-length 512]
    .venv/bin/python bench/train.py --quick      (a tiny random Llama: a smoke run, under a minute)

Both sides fine-tune the builtin SmolLM2-135M-Instruct with LoRA (r=8, alpha 16, dropout 0.05, all linear layers
but the output head) in float32 on the CPU, on the DDI training set (../shared/data/ddi via `shared:ddi` when it is
there, else `bundled:ddi-binary`), with the same batch size, max_length, seed, learning rate and number of steps,
and the loss on the assistant tokens only:

- baseline: a plain transformers `Trainer` + peft `get_peft_model`; each record through
  `tokenizer.apply_chat_template`, the prompt part of the labels set to -100, batches right-padded per batch by
  `DataCollatorForSeq2Seq` (dynamic padding). The model computes logits over every position and the loss itself.
- ours: `training.recipe.train(TrainConfig(...), run_dir, emit)` with its defaults: padding-free batches (one
  concatenated row, position ids restarting per sequence) and logits only where a label is.

Each side runs in its own child process (so ru_maxrss is that side's peak), alternately, `--repeats` times; the
figures are medians. The timed window is the `--steps` steps after `--warmup` steps, clock read when the
Trainer logs each step (logging every step on both sides). Trained tokens are the non-pad tokens that went
through the model in that window: the sum of the attention mask on the baseline side (a forward pre-hook), the
recipe's own count on ours (the flattened row's length, i.e. the same tokens). Both sides shuffle the records as
the recipe does and use the same Trainer seed, so they train on the same batches; the script checks that the
token counts agree.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REF = "builtin:smollm2-135m-instruct"
SEED = 42
LEARNING_RATE = 2e-4
LORA = dict(r=8, lora_alpha=16, lora_dropout=0.05)


def dataset_ref() -> str:
    from data import catalog

    try:
        if "train" in catalog.splits("shared:ddi"):
            return "shared:ddi"
    except Exception:  # noqa: BLE001 - absent shared data: fall back to the bundled pairs
        pass
    return "bundled:ddi-binary"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process
    return usage.ru_utime + usage.ru_stime


def mark(step: int, tokens: int, loss) -> tuple:
    return step, time.perf_counter(), cpu_seconds(), tokens, loss


def window(marks: list[tuple], warmup: int, steps: int) -> dict:
    """marks: (step, wall clock, CPU seconds, cumulative tokens, loss) at each logged step → the timed window."""
    by_step = {m[0]: m[1:] for m in marks}
    if warmup + steps not in by_step or warmup not in by_step:
        raise RuntimeError(f"steps {warmup} and {warmup + steps} were not both logged (got {sorted(by_step)})")
    t0, c0, tok0, _ = by_step[warmup]
    t1, c1, tok1, _ = by_step[warmup + steps]
    losses = [by_step[s][3] for s in range(warmup + 1, warmup + steps + 1) if s in by_step]
    return {"seconds": t1 - t0, "cpu_seconds": c1 - c0, "tokens": tok1 - tok0, "tokens_per_s": (tok1 - tok0) / (t1 - t0),
            "tokens_per_cpu_s": (tok1 - tok0) / (c1 - c0), "seconds_per_step": (t1 - t0) / steps,
            "mean_loss": statistics.fmean(losses), "step_losses": [by_step[s][3] for s in sorted(by_step)]}


# -- the two sides, each run in a child process ------------------------------------------------------------------
def run_baseline(args) -> dict:
    """What a competent user writes by hand: Trainer + peft LoRA + chat template + dynamic padding."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainerCallback,
                              TrainingArguments)

    from data import catalog

    tokenizer = AutoTokenizer.from_pretrained(args.folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    records = catalog.load(args.dataset, "train")
    random.Random(SEED).shuffle(records)  # the recipe's shuffle, so both sides see the same batches

    def encode(messages):
        full = tokenizer.apply_chat_template(messages, tokenize=True, truncation=True,
                                             max_length=args.max_length)["input_ids"]
        prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=True, add_generation_prompt=True)["input_ids"]
        labels = ([-100] * len(prompt) + full[len(prompt):])[: len(full)]
        return {"input_ids": full, "attention_mask": [1] * len(full), "labels": labels}

    # examples whose answer max_length cut off teach nothing; drop them (the recipe does too)
    train_set = [e for e in map(encode, (r.messages for r in records)) if any(l != -100 for l in e["labels"])]

    model = AutoModelForCausalLM.from_pretrained(args.folder, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(**LORA, target_modules="all-linear", task_type="CAUSAL_LM"))

    # measurement only: non-pad tokens per forward pass in training, and the clock at each logged step
    counted = {"tokens": 0}

    def count(module, args_, kwargs):
        if module.training:
            mask = kwargs.get("attention_mask")
            counted["tokens"] += int(mask.sum()) if mask is not None else int(kwargs["input_ids"].numel())

    model.register_forward_pre_hook(count, with_kwargs=True)
    marks = []

    class Clock(TrainerCallback):
        def on_log(self, args_, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                marks.append(mark(state.global_step, counted["tokens"], logs["loss"]))

    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size, max_steps=args.warmup + args.steps,
            learning_rate=LEARNING_RATE, lr_scheduler_type="cosine", logging_steps=1, save_strategy="no",
            report_to="none", seed=SEED, data_seed=SEED, disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=training_args, train_dataset=train_set,
                          data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
                          callbacks=[Clock()])
        trainer.train()
    return {"examples": len(train_set), **window(marks, args.warmup, args.steps)}


def run_ours(args) -> dict:
    from training.config import TrainConfig
    from training.recipe import train

    marks = []

    def emit(event, **fields):
        if event == "train":
            marks.append(mark(fields["step"], fields["tokens"], fields["loss"]))
        elif event == "setup":
            emit.examples = fields["train_examples"]

    config = TrainConfig(
        dataset=args.dataset, base_model=args.base_model, max_steps=args.warmup + args.steps,
        batch_size=args.batch_size, max_length=args.max_length, learning_rate=LEARNING_RATE, seed=SEED,
        eval_split=None,  # the baseline does not evaluate either
        save_every=args.warmup + args.steps,  # one checkpoint, at the end, after the timed window
    )
    with tempfile.TemporaryDirectory() as run_dir:
        train(config, Path(run_dir), emit)
    return {"examples": emit.examples, **window(marks, args.warmup, args.steps)}


def child(args) -> None:
    import torch

    result = (run_baseline if args.child == "baseline" else run_ours)(args)
    result.update(peak_rss_mb=peak_rss_mb(), threads=torch.get_num_threads(), torch=torch.__version__)
    print("RESULT " + json.dumps(result), flush=True)


# -- the parent: alternate the sides, take medians, print ----------------------------------------------------------
def spawn(side: str, args, folder: str, base_model: str, dataset: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", side, "--folder", folder,
               "--base-model", base_model, "--dataset", dataset, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--batch-size", str(args.batch_size), "--max-length", str(args.max_length)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-8000:])
        raise SystemExit(f"the {side} child failed (exit code {done.returncode})")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    result["process_seconds"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps per run (default 12)")
    parser.add_argument("--warmup", type=int, default=2, help="steps before the timed window (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per side, alternating (default 3)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--quick", action="store_true", help="a tiny random Llama (tests.conftest) instead of SmolLM2")
    parser.add_argument("--child", choices=("baseline", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--base-model", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    dataset = dataset_ref()
    with tempfile.TemporaryDirectory() as scratch:
        if args.quick:
            from tests.conftest import build_tiny_llama

            folder = str(build_tiny_llama(Path(scratch) / "tiny-llama", context=max(args.max_length, 128)))
            base_model, model_name = f"hf:{folder}", "tiny random Llama (tests.conftest.build_tiny_llama)"
        else:
            from models.builtin import prepare

            folder, base_model, model_name = str(prepare(REF.split(":", 1)[1])), REF, REF
        runs = {"baseline": [], "ours": []}
        load_before = os.getloadavg()[0]
        for repeat in range(args.repeats):  # interleaved so both sides see the same machine state
            for side in ("baseline", "ours"):
                runs[side].append(spawn(side, args, folder, base_model, dataset))
                r = runs[side][-1]
                paired = (f"   ours ÷ baseline {r['tokens_per_s'] / runs['baseline'][-1]['tokens_per_s']:.2f}×"
                          if side == "ours" else "")
                print(f"  repeat {repeat + 1}/{args.repeats} {side:8} {r['tokens_per_s']:8.1f} tok/s "
                      f"{r['tokens_per_cpu_s']:7.1f} tok/CPU-s {r['seconds_per_step']:6.2f} s/step  "
                      f"peak RSS {r['peak_rss_mb']:5.0f} MB  ({r['process_seconds']:.0f} s in all){paired}", flush=True)
        load_after = os.getloadavg()[0]

    def med(side, key):
        return statistics.median(r[key] for r in runs[side])

    base, ours = runs["baseline"][0], runs["ours"][0]
    same_tokens = all(b["tokens"] == o["tokens"] for b, o in zip(runs["baseline"], runs["ours"]))
    print(f"\nmachine: {os.cpu_count()} CPU cores ({base['threads']} torch threads), torch {base['torch']}, "
          f"load average {load_before:.1f} before / {load_after:.1f} after")
    print(f"model: {model_name} in float32, LoRA r=8 alpha 16 dropout 0.05 on all linear layers but lm_head")
    print(f"data: {dataset} ({base['examples']} / {ours['examples']} training examples baseline / ours), "
          f"batch {args.batch_size}, max_length {args.max_length}; {args.steps} timed steps after {args.warmup} "
          f"warm-up steps; median of {args.repeats} runs per side")
    print(f"non-pad tokens in the timed window: {base['tokens']:,} per run "
          f"({'the same batches on both sides' if same_tokens else 'DIFFERENT: ' + str(ours['tokens'])})")
    rows = [
        ("trained tokens/s (non-pad)", med("baseline", "tokens_per_s"), med("ours", "tokens_per_s"), "{:.1f}"),
        ("tokens per CPU-second", med("baseline", "tokens_per_cpu_s"), med("ours", "tokens_per_cpu_s"), "{:.1f}"),
        ("seconds per step", med("baseline", "seconds_per_step"), med("ours", "seconds_per_step"), "{:.2f}"),
        ("peak RSS (MB)", med("baseline", "peak_rss_mb"), med("ours", "peak_rss_mb"), "{:.0f}"),
    ]
    print(f"\n{'':28} {'baseline':>10} {'ours':>10} {'ours ÷ baseline':>16}")
    for name, b, o, fmt in rows:
        print(f"{name:28} {fmt.format(b):>10} {fmt.format(o):>10} {o / b:15.2f}×")
    print(f"{'mean loss, timed steps':28} {med('baseline', 'mean_loss'):10.4f} {med('ours', 'mean_loss'):10.4f}"
          "   (the baseline's labels also cover the newline after <|im_end|>)")
    speedup = med("ours", "tokens_per_s") / med("baseline", "tokens_per_s")
    paired = statistics.median(o["tokens_per_s"] / b["tokens_per_s"] for b, o in zip(runs["baseline"], runs["ours"]))
    memory = med("ours", "peak_rss_mb") / med("baseline", "peak_rss_mb")
    print(f"\ntokens/s ours ÷ baseline: {speedup:.2f}× (median of the paired runs' ratios {paired:.2f}×)   "
          f"goal ≥ 1.5×: {'met' if speedup >= 1.5 else 'NOT met'}")
    print(f"peak RSS ours ÷ baseline: {memory:.2f}×   goal ≤ 1.0×: {'met' if memory <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
