"""The training recipe, readable top to bottom: setup → train → save. transformers' Trainer does the loop
(gradient accumulation, schedules, checkpoints, resume, early stopping, DDP under `accelerate launch`); this
file chooses what goes into it and reports through events.jsonl.

One change to the Trainer's work: for causal LM tasks the logits are computed only at positions that have a
label (the assistant tokens in SFT), which skips most of the 49k-wide vocabulary projection and its memory.

Tasks trained by TRL (dpo, kto, orpo, grpo) go through the same recipe: the task names its Trainer subclass and
its TrainingArguments subclass (training.tasks), and the same events, checkpoints, resume and cancel apply.
"""
from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import settings
from training.config import ConfigError, TrainConfig


# -- setup helpers -------------------------------------------------------------------------------------------
def preload() -> None:
    """Import what setup and the Trainer need (several seconds), so a job waiting in the queue starts training
    the moment the device is free."""
    import peft  # noqa: F401
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments  # noqa: F401 - lazy modules load here


def device_and_precision(precision: str) -> tuple[str, str]:
    """auto: bf16 on a GPU that supports it (fp16 on older ones), fp32 on CPU, where the step is already
    compute-bound and bf16 changes results."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if precision == "auto":
        if device == "cuda":
            return device, "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return device, "fp32"
    if precision == "fp16" and device == "cpu":
        raise ConfigError("precision fp16 needs a GPU; on CPU use fp32 or bf16.")
    return device, precision


def world() -> tuple[int, int]:
    """(rank, world size) under torchrun / accelerate launch; (0, 1) otherwise."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest complete checkpoint; none, or none usable, is a ConfigError before anything starts.

    A process killed while writing a checkpoint (kill -9, the OOM killer, a full disk) leaves the newest one
    incomplete: the Trainer writes trainer_state.json last, so such a folder lacks it or has a torn file. Resume
    then continues from the newest complete checkpoint before it (the run repeats those few steps)."""
    folder = run_dir / "checkpoints"
    found = sorted((p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1])) if folder.is_dir() else []
    if not found:
        raise ConfigError(f"Nothing to resume: {folder} holds no checkpoint (save_every sets how often they are written).")
    problems = []
    for checkpoint in reversed(found):
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            return checkpoint
        problems.append(problem)
    older = f" (and the {len(found) - 1} older one(s) are unusable too)" if len(found) > 1 else ""
    raise ConfigError(f"Cannot resume: {problems[0]}{older}.")


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why a checkpoint folder cannot be resumed from, or None when it can."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        int(state["global_step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{checkpoint}/trainer_state.json is missing or corrupt ({exc})"
    weights = list(checkpoint.glob("*.safetensors"))
    if not weights:
        return f"{checkpoint} has no weights (*.safetensors)"
    from safetensors import safe_open

    for path in weights:
        try:
            with safe_open(str(path), "pt") as handle:
                list(handle.keys())
        except Exception as exc:  # noqa: BLE001 - any parse error means the file is unusable
            return f"{path} is corrupt ({exc})"
    return None


def peak_memory_bytes() -> int:
    import resource

    import torch

    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


# -- the Trainer, with selective logits and a token counter --------------------------------------------------
def count_tokens(inputs) -> int:
    """Non-pad tokens in a batch: its attention mask, a TRL GRPO batch's prompt and completion masks, or an ORPO
    batch's chosen and rejected sequences (each holds its prompt)."""
    if inputs.get("attention_mask") is not None:
        return int(inputs["attention_mask"].sum())
    masks = [inputs[k] for k in ("prompt_mask", "completion_mask", "chosen_attention_mask", "rejected_attention_mask")
             if inputs.get(k) is not None]
    if masks:
        return int(sum(m.sum() for m in masks))
    ids = inputs.get("input_ids")
    return int(ids.numel()) if ids is not None else 0


def make_trainer_class(base=None):
    """The recipe's Trainer: transformers' own, or the Trainer subclass a task names (TRL's DPOTrainer ...)."""
    import torch
    import torch.nn.functional as F
    from transformers import Trainer

    class PharmaTrainer(base or Trainer):
        causal_loss = True
        tokens_seen = 0  # non-pad tokens trained on (this rank)
        # compute_loss normalises by the token count of the whole accumulated batch itself
        loss_is_scaled_for_ga = None

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training:
                self.tokens_seen += count_tokens(inputs)
            if not self.causal_loss:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            inputs = dict(inputs)
            labels = inputs.pop("labels")
            targets = labels[:, 1:]
            keep = torch.zeros_like(labels, dtype=torch.bool)
            keep[:, :-1] = targets != -100  # position t predicts token t + 1
            outputs = model(**inputs, logits_to_keep=keep, use_cache=False)
            logits = outputs.logits.reshape(-1, outputs.logits.shape[-1]).float()
            wanted = targets[targets != -100]
            if wanted.numel() == 0:
                loss = logits.sum() * 0.0
            elif num_items_in_batch is not None and model.training:
                loss = F.cross_entropy(logits, wanted, reduction="sum") / num_items_in_batch
                if self.args.average_tokens_across_devices and self.accelerator.num_processes > 1:
                    loss = loss * self.accelerator.num_processes
            else:
                loss = F.cross_entropy(logits, wanted)
            return (loss, outputs) if return_outputs else loss

        def training_step(self, model, inputs, num_items_in_batch=None):
            if self.causal_loss:  # other losses keep their Trainer's own answer (TRL's say it themselves)
                self.loss_is_scaled_for_ga = num_items_in_batch is not None or None
            return super().training_step(model, inputs, num_items_in_batch)

        def _save_checkpoint(self, model, trial):
            """A full disk while a checkpoint is written: the half-written folder goes (it holds the space a resume
            needs, and a resume would skip it anyway), the older complete ones stay, and the error is one sentence
            naming the disk (data.io.DiskFull) instead of a stack trace from safetensors or torch.save."""
            folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
            try:
                super()._save_checkpoint(model, trial)
            except Exception as exc:
                full = _checkpoint_disk_full(exc, folder)
                if full is None:
                    raise
                raise full from None

    return PharmaTrainer


def _checkpoint_disk_full(exc: Exception, folder: Path):
    """The DiskFull sentence for a checkpoint that could not be written (its partial folder removed), or None when
    the disk is not what failed."""
    import shutil

    from data.io import DiskFull, disk_full_message, is_disk_full

    if not is_disk_full(exc, folder.parent):
        return None
    shutil.rmtree(folder, ignore_errors=True)
    complete = [p for p in folder.parent.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
                and checkpoint_problem(p) is None]
    newest = max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)
    kept = (f"{newest.name} is complete (a resume continues from it)" if newest is not None
            else "no earlier checkpoint exists (save_every sets how often they are written)")
    return DiskFull(disk_full_message(folder.parent, folder.name, kept))


def events_callback(emit, trainer_ref: dict, started_at: float, log_fields=None):
    """Trainer logs → events.jsonl: train (loss, lr, grad norm, tokens/s, ETA, peak memory, and what the task's
    `log_fields` reads from its Trainer's log: rewards, KL, margins) and eval events."""
    import time

    from transformers import TrainerCallback

    class Events(TrainerCallback):
        last_time = started_at
        last_tokens = 0

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            trainer = trainer_ref["trainer"]
            now = time.time()
            tokens = trainer.tokens_seen * args.world_size
            rate = (tokens - self.last_tokens) / max(now - self.last_time, 1e-6)
            self.last_time, self.last_tokens = now, tokens
            elapsed = now - started_at
            done = max(state.global_step - trainer_ref.get("start_step", 0), 1)
            eta = elapsed / done * max(state.max_steps - state.global_step, 0)
            common = {"step": state.global_step, "max_steps": state.max_steps, "epoch": round(state.epoch or 0, 4),
                      "peak_memory_mb": round(peak_memory_bytes() / 2**20, 1)}
            if "eval_loss" in logs:
                emit("eval", **common, **{k: v for k, v in logs.items() if k.startswith("eval_")
                                          and not k.endswith(("runtime", "per_second"))})
            elif "loss" in logs:
                emit("train", **common, loss=logs["loss"], lr=logs.get("learning_rate"),
                     grad_norm=logs.get("grad_norm"), tokens_per_s=round(rate, 1), tokens=tokens, eta_s=round(eta, 1),
                     **(log_fields(logs) if log_fields else {}))

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                emit("checkpoint", step=state.global_step, path=str(Path(args.output_dir) / f"checkpoint-{state.global_step}"))

    return Events()


def rank_log_callback(run_dir: Path):
    """Every rank writes the losses it saw to logs/rank-<r>.jsonl (a multi-process run's ranks must agree)."""
    from transformers import TrainerCallback

    rank, _ = world()
    path = run_dir / "logs" / f"rank-{rank}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)

    class RankLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"step": state.global_step, "loss": logs["loss"]}) + "\n")

    return RankLog()


def step_gate_callback(gate: Path):
    """Waits before step N + 1 while `gate` holds N (settings.step_gate_file), so step N's events and checkpoint
    are written first: tests hold a run at a known step."""
    import time

    from transformers import TrainerCallback

    def held_at(step: int) -> bool:
        try:
            return step >= int(gate.read_text().strip() or "0")
        except (OSError, ValueError):
            return False  # no file (or not a number yet): run on

    class StepGate(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            while held_at(state.global_step):
                time.sleep(0.05)

    return StepGate()


# -- the recipe ----------------------------------------------------------------------------------------------
def setup(config: TrainConfig, emit) -> dict:
    """Everything up to the first step: data, model, method, features. Raises ConfigError / DataError /
    ModelError with a readable message before any weights change."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, set_seed

    from models.run import base_folder
    from training import methods, tasks

    set_seed(int(config.seed))
    random.seed(int(config.seed))
    method = methods.get(config.method.name)
    method.preflight(config.method)
    task = tasks.get(config.task)
    device, precision = device_and_precision(config.precision)
    folder = base_folder(config.base_model)
    trust = settings.trust_remote_code()
    model_config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trust)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token

    train_items = task.load_items(config, config.train_split)
    if not train_items:
        raise ConfigError(f"{config.dataset}: the {config.train_split!r} split has no usable examples.")
    eval_items, notes = [], []
    if config.eval_dataset:
        import dataclasses

        eval_items = task.load_items(dataclasses.replace(config, dataset=config.eval_dataset, limit=None,
                                                         train_split="train", eval_split=None), "train")
    elif config.eval_split:
        if tasks.has_split(config, config.eval_split):
            eval_items = task.load_items(config, config.eval_split)
        else:
            notes.append(f"{config.dataset} has no {config.eval_split!r} split: training without validation.")
    extra = task.prepare(config, train_items, model_config)

    dtype = torch.float32 if precision != "bf16" or device == "cpu" else torch.bfloat16
    model = task.load_model(folder, config, dtype, extra, **method.load_kwargs(config.method))
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if config.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x; the old name goes in v6
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    # a task trained by TRL trains a causal LM: the methods adapt it as they do for sft
    model, method_notes = method.apply(model, config.method, "sft" if tasks.entry(config.task).trl else config.task)
    counts = methods.parameter_counts(model)
    train_features, feature_notes = task.features(train_items, tokenizer, config, extra)
    eval_features = task.features(eval_items, tokenizer, config, extra)[0] if eval_items else []
    if not train_features:
        raise ConfigError("No training example survived tokenisation; raise max_length.")
    return dict(model=model, tokenizer=tokenizer, task=task, method=method, extra=extra, device=device,
                precision=precision, folder=folder, train=train_features, eval=eval_features, counts=counts,
                notes=notes + method_notes + feature_notes)


def planned_steps(config: TrainConfig, examples: int, world_size: int = 1) -> int:
    """The optimizer steps the Trainer will take: each epoch ends with a (possibly short) accumulation step, so
    epochs multiply whole steps per epoch (2 epochs of 12 batches with grad_accum 5 are 2 × 3 steps, not 5)."""
    if config.max_steps:
        return int(config.max_steps)
    batches = math.ceil(examples / (int(config.batch_size) * world_size))
    per_epoch = max(1, math.ceil(batches / int(config.grad_accum)))
    return max(1, math.ceil(per_epoch * float(config.epochs)))


def training_arguments(config: TrainConfig, run_dir: Path, device: str, precision: str, has_eval: bool):
    """TrainingArguments, or the task's own subclass of them (TRL's DPOConfig ...) built from the same values."""
    from transformers import TrainingArguments

    from training import tasks

    eval_every = int(config.eval_every) if config.eval_every and has_eval else None
    early = bool(config.early_stopping_patience and eval_every)
    # Early stopping restores the best evaluated model at the end (load_best_model_at_end), which needs a
    # checkpoint at every evaluation step: a checkpoint every 50 steps would miss the best one, and a run that
    # stops early (before max_steps) would end without any checkpoint at all.
    save_every = int(config.save_every or (eval_every if early else 50))
    if early and save_every % eval_every:
        save_every = eval_every
    common = dict(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=int(config.batch_size), per_device_eval_batch_size=int(config.batch_size),
        gradient_accumulation_steps=int(config.grad_accum),
        num_train_epochs=float(config.epochs), max_steps=int(config.max_steps or -1),
        learning_rate=float(config.learning_rate), lr_scheduler_type=config.schedule,
        warmup_steps=float(config.warmup_ratio), weight_decay=float(config.weight_decay),
        max_grad_norm=float(config.max_grad_norm),
        bf16=precision == "bf16", fp16=precision == "fp16",
        logging_strategy="steps", logging_steps=int(config.log_every), logging_first_step=True,
        eval_strategy="steps" if eval_every else "no", eval_steps=eval_every,
        save_strategy="steps", save_steps=save_every, save_total_limit=int(config.keep_checkpoints),
        load_best_model_at_end=early, metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        seed=int(config.seed), data_seed=int(config.seed), disable_tqdm=True,
        report_to=list(config.report_to) or "none", run_name=run_dir.name,  # the trackers of training.tracking
        remove_unused_columns=False, label_names=["labels"], prediction_loss_only=False,
        dataloader_num_workers=0, use_cpu=device == "cpu", ddp_find_unused_parameters=False,
        save_only_model=False,
    )
    if tasks.entry(config.task).trl:
        # TRL's trainers score eval batches by their loss (and log their own metrics); they read no labels. Their
        # configs turn activation checkpointing on by default: here it follows the config (setup enabled it already)
        checkpointing = bool(config.gradient_checkpointing)
        common.update(label_names=None, prediction_loss_only=True, activation_checkpointing=checkpointing,
                      activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None)
        return tasks.get(config.task).arguments(config, common)
    return TrainingArguments(**common)


def train(config: TrainConfig, run_dir: Path, emit, *, resume: bool = False) -> dict:
    """Run the whole recipe and save the result; returns the summary (also written to summary.json)."""
    import time

    from transformers import EarlyStoppingCallback

    started = time.time()
    rank, world_size = world()
    checkpoint = latest_checkpoint(run_dir) if resume else None
    parts = setup(config, emit)
    model, task = parts["model"], parts["task"]
    # GRPO's batch_size counts answers: each prompt is answered num_generations times per epoch
    per_item = task.answers_per_prompt(config) if hasattr(task, "answers_per_prompt") else 1
    steps = planned_steps(config, len(parts["train"]) * per_item, world_size)
    args = training_arguments(config, run_dir, parts["device"], parts["precision"], bool(parts["eval"]))
    if config.early_stopping_patience and not args.load_best_model_at_end:
        parts["notes"].append("early_stopping_patience is ignored: early stopping needs evaluations during "
                              "training (set eval_every) on a validation set.")
    emit("setup", base_model=config.base_model, base_folder=str(parts["folder"]), method=config.method.name,
         task=config.task, device=parts["device"], precision=parts["precision"], world_size=world_size,
         train_examples=len(parts["train"]), eval_examples=len(parts["eval"]), planned_steps=steps,
         notes=parts["notes"], **parts["counts"])
    trainer_ref: dict = {}
    callbacks = [events_callback(emit, trainer_ref, started, getattr(task, "log_fields", None)),
                 rank_log_callback(run_dir)]
    if settings.step_gate_file():
        callbacks.append(step_gate_callback(settings.step_gate_file()))
    if config.eval_benchmarks and rank == 0:
        from training.benchmark_callback import benchmark_callback

        callbacks.append(benchmark_callback(config, run_dir, emit, parts["tokenizer"]))
    if args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(int(config.early_stopping_patience), float(config.early_stopping_min_delta)))
    if config.tensorboard and rank == 0:
        from transformers.integrations import TensorBoardCallback

        board = TensorBoardCallback()
        board.logging_dir = str(run_dir / "tensorboard")
        callbacks.append(board)
    kwargs = dict(
        model=model, args=args, train_dataset=parts["train"], eval_dataset=parts["eval"] or None,
        data_collator=task.collator(parts["tokenizer"], config, parts["extra"]), callbacks=callbacks,
        compute_metrics=getattr(task, "compute_metrics", None) if not parts["extra"]["causal_loss"] else None,
        processing_class=parts["tokenizer"],
    )
    if hasattr(task, "trainer_kwargs"):
        kwargs = task.trainer_kwargs(kwargs, parts, config)
    trainer = make_trainer_class(task.trainer_base() if hasattr(task, "trainer_base") else None)(**kwargs)
    if hasattr(task, "after_init"):
        task.after_init(trainer)
    trainer.causal_loss = parts["extra"]["causal_loss"]
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our events replace its prints on stdout
    trainer_ref["trainer"] = trainer
    if checkpoint is not None:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        trainer_ref["start_step"] = int(state["global_step"])
        emit("resume", from_step=int(state["global_step"]), checkpoint=str(checkpoint))
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    final_eval = {}
    if parts["eval"]:
        final_eval = final_evaluation(trainer)
    summary = {
        "run": run_dir.name, "base_model": config.base_model, "task": config.task, "method": config.method.name,
        **parts["counts"], "notes": parts["notes"], "steps": trainer.state.global_step,
        "train_loss": round(float(output.training_loss), 6), "train_seconds": round(time.time() - started, 1),
        "tokens": trainer.tokens_seen * world_size, "peak_memory_mb": round(peak_memory_bytes() / 2**20, 1),
        "stopped_early": bool(args.load_best_model_at_end and trainer.state.global_step < trainer.state.max_steps),
        "final_eval": final_eval, "precision": parts["precision"], "device": parts["device"],
    }
    summary["tokens_per_s"] = round(summary["tokens"] / max(output.metrics.get("train_runtime", 1), 1e-6), 1)
    if rank == 0:
        save(trainer.model, parts["tokenizer"], parts["method"].saves, run_dir, parts["extra"].get("labels"))
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def final_evaluation(trainer) -> dict:
    """The validation metrics of the model as saved. With step evaluation the Trainer has already evaluated the
    last step; that result is reused (a second pass would cost as much again and log a duplicate eval event)
    unless early stopping restored an earlier, better checkpoint, which is then evaluated afresh."""
    state = trainer.state
    last = next((h for h in reversed(state.log_history) if "eval_loss" in h), None)
    restored = bool(trainer.args.load_best_model_at_end and state.best_model_checkpoint
                    and Path(state.best_model_checkpoint).name != f"checkpoint-{state.global_step}")
    metrics = last if last is not None and last.get("step") == state.global_step and not restored else trainer.evaluate()
    return {k: v for k, v in metrics.items() if k.startswith("eval_") and not k.endswith(("runtime", "per_second"))
            or k == "epoch"}


CLASS_NAMES_FILE = "class_names.json"  # beside a head's weights: its classes in row order (models.head)


def save(model, tokenizer, kind: str, run_dir: Path, labels: list[str] | None = None):
    """adapter/ or model/ (safetensors), written beside and renamed into place so a crash leaves no half folder."""
    import shutil

    from data.io import DiskFull, disk_full_message, is_disk_full, replace_folder

    target = run_dir / kind
    partial = run_dir / f".{kind}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model.save_pretrained(str(partial), safe_serialization=True)
        tokenizer.save_pretrained(str(partial))
        if labels:  # an adapter folder has no config.json to carry id2label
            (partial / CLASS_NAMES_FILE).write_text(json.dumps(list(labels)), encoding="utf-8")
    except Exception as exc:
        if not is_disk_full(exc, run_dir):
            raise
        shutil.rmtree(partial, ignore_errors=True)
        kept = "the checkpoints are kept (resume the run once there is space)"
        raise DiskFull(disk_full_message(run_dir, f"the trained {kind}", kept)) from None
    replace_folder(partial, target)
