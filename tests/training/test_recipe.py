"""The training recipe's promises, checked on a 2-layer random Llama: gradient accumulation, schedules with
warmup, evaluation every N steps, early stopping, checkpoint rotation, resume on the same curve, seeds,
padding-free batching with selective logits (same loss as padded batches and as the plain full-logits loss),
assistant-only loss, TensorBoard, gradient checkpointing, the summary's figures, and readable failures.

Most tests call `training.recipe.train` in this process (a run costs 1-3 s); the CLI is used where a process
and its exit code are the point.
"""
from __future__ import annotations

import errno
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRUGS = ["warfarin", "aspirin", "metformin", "fluconazole", "atorvastatin", "ibuprofen", "simvastatin"]


# -- data, configs, runs ---------------------------------------------------------------------------------------------
def chat_rows(n: int, offset: int = 0) -> list[dict]:
    rows = []
    for i in range(n):
        a, b = DRUGS[(i + offset) % len(DRUGS)], DRUGS[(3 * i + offset + 1) % len(DRUGS)]
        answer = "interaction" if (i + offset) % 2 else "no interaction"
        rows.append({"messages": [{"role": "user", "content": f"{a} + {b}?"},
                                  {"role": "assistant", "content": answer}]})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def chat_data(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("chat-data")
    return {"train": write_jsonl(folder / "train.jsonl", chat_rows(48)),
            "validation": write_jsonl(folder / "validation.jsonl", chat_rows(12, offset=3))}


def make_config(chat_data, tiny_llama, **overrides):
    from training.config import TrainConfig

    spec = dict(dataset=str(chat_data["train"]), eval_dataset=None, eval_split=None, base_model=f"hf:{tiny_llama}",
                max_length=128, batch_size=4, learning_rate=1e-2, warmup_ratio=0.0, max_steps=3, tensorboard=False,
                seed=7)
    spec.update(overrides)
    return TrainConfig.from_dict(spec)


class Run:
    def __init__(self, summary: dict, events: list[tuple[str, dict]], run_dir: Path):
        self.summary, self.events, self.dir = summary, events, run_dir

    def of(self, name: str) -> list[dict]:
        return [fields for event, fields in self.events if event == name]

    def losses(self) -> dict[int, float]:
        return {e["step"]: e["loss"] for e in self.of("train")}

    def lrs(self) -> list[float]:
        return [e["lr"] for e in self.of("train")]


def train(config, run_dir: Path, *, resume: bool = False) -> Run:
    from training import recipe

    run_dir.mkdir(parents=True, exist_ok=True)
    events: list[tuple[str, dict]] = []
    summary = recipe.train(config, run_dir, lambda event, **fields: events.append((event, fields)), resume=resume)
    return Run(summary, events, run_dir)


def stop_at(monkeypatch, step: int):
    """Interrupt the next run after `step` optimizer steps, as a cancelled job would be (its checkpoints kept)."""
    from training import recipe

    real = recipe.rank_log_callback

    def patched(run_dir):
        inner = real(run_dir)

        class StopAt(type(inner)):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step >= step:
                    control.should_training_stop = True

        return StopAt()

    monkeypatch.setattr(recipe, "rank_log_callback", patched)


def checkpoint_steps(run_dir: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in (run_dir / "checkpoints").glob("checkpoint-*"))


# -- optimisation ----------------------------------------------------------------------------------------------------
def test_gradient_accumulation_makes_one_step_of_several_batches_and_sees_every_example(chat_data, tiny_llama, tmp_path):
    import types

    from transformers import AutoTokenizer

    from training.tasks import sft

    config = make_config(chat_data, tiny_llama, max_steps=None, epochs=1, grad_accum=5)
    run = train(config, tmp_path / "accum")
    expected = math.ceil(math.ceil(48 / 4) / 5)  # 12 batches, 5 per step: 3 steps (the last one has 2 batches)
    (setup,) = run.of("setup")
    assert setup["planned_steps"] == expected == run.summary["steps"] == 3
    assert [e["step"] for e in run.of("train")] == [1, 2, 3]
    assert all(e["max_steps"] == 3 for e in run.of("train"))
    # Every token of the epoch went through the model: accumulation skipped no batch.
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama))
    records = [types.SimpleNamespace(messages=r["messages"]) for r in chat_rows(48)]
    tokens = sum(len(f["input_ids"]) for f in sft.features(records, tokenizer, config, {})[0])
    assert run.summary["tokens"] == tokens
    assert run.of("train")[-1]["epoch"] == pytest.approx(1.0)


@pytest.mark.parametrize("examples, batch_size, grad_accum, epochs", [
    (48, 4, 1, 1), (48, 4, 5, 1), (48, 4, 5, 2), (50, 4, 3, 1.5), (7, 8, 4, 3), (48, 4, 5, 0.5), (100, 3, 7, 2.3),
])
def test_planned_steps_are_the_steps_the_trainer_takes(examples, batch_size, grad_accum, epochs, chat_data, tiny_llama,
                                                       tmp_path):
    import torch
    from transformers import Trainer, TrainingArguments

    from training import recipe

    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=batch_size,
                             gradient_accumulation_steps=grad_accum, num_train_epochs=epochs, use_cpu=True,
                             report_to="none")
    trainer = Trainer(model=torch.nn.Linear(1, 1), args=args, train_dataset=[{"x": [0.0]}] * examples)
    trainer_steps = trainer.set_initial_training_values(args, trainer.get_train_dataloader())[-1]
    config = make_config(chat_data, tiny_llama, max_steps=None, epochs=epochs, batch_size=batch_size,
                         grad_accum=grad_accum)
    assert recipe.planned_steps(config, examples) == trainer_steps


def test_cosine_and_linear_schedules_warm_up_then_decay_differently(chat_data, tiny_llama, tmp_path):
    runs = {schedule: train(make_config(chat_data, tiny_llama, max_steps=10, warmup_ratio=0.2, schedule=schedule,
                                        learning_rate=1e-2), tmp_path / schedule)
            for schedule in ("cosine", "linear")}
    for run in runs.values():
        lrs = run.lrs()
        assert len(lrs) == 10
        peak = lrs.index(max(lrs))
        assert peak == 2 and max(lrs) == pytest.approx(1e-2)  # warmup: 2 steps (20 % of 10) rising from 0
        assert lrs[0] < lrs[1] < lrs[2]
        assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:]))  # then it only decays
    cosine, linear = runs["cosine"].lrs(), runs["linear"].lrs()
    assert cosine[:3] == pytest.approx(linear[:3])  # the same warmup
    # After warmup the trainer logs the lr of the step that comes next: step 4 runs 1/8 of the decay.
    assert linear[3] == pytest.approx(1e-2 * (1 - 1 / 8))
    assert cosine[3] == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi / 8)))
    assert cosine[3] > linear[3]  # cosine stays high early
    assert cosine[-2] < linear[-2]  # and falls lower late


def test_evaluation_every_n_steps(chat_data, tiny_llama, tmp_path):
    run = train(make_config(chat_data, tiny_llama, max_steps=7, eval_dataset=str(chat_data["validation"]),
                            eval_every=3), tmp_path / "eval")
    steps = [e["step"] for e in run.of("eval")]
    assert steps[:2] == [3, 6]
    assert steps[2:] == [7]  # and once more on the final model
    assert all(math.isfinite(e["eval_loss"]) for e in run.of("eval"))
    assert run.summary["final_eval"]["eval_loss"] == run.of("eval")[-1]["eval_loss"]
    (setup,) = run.of("setup")
    assert setup["eval_examples"] == 12


def test_evaluation_on_the_last_step_is_not_repeated(chat_data, tiny_llama, tmp_path):
    run = train(make_config(chat_data, tiny_llama, max_steps=4, eval_dataset=str(chat_data["validation"]),
                            eval_every=2), tmp_path / "eval")
    assert [e["step"] for e in run.of("eval")] == [2, 4]
    assert run.summary["final_eval"]["eval_loss"] == run.of("eval")[-1]["eval_loss"]


def test_early_stopping_stops_when_the_validation_loss_cannot_improve(chat_data, tiny_llama, tmp_path):
    run = train(make_config(chat_data, tiny_llama, max_steps=12, eval_dataset=str(chat_data["validation"]),
                            eval_every=1, early_stopping_patience=2, early_stopping_min_delta=10.0), tmp_path / "early")
    # First evaluation sets the best; two more without an improvement of 10 nats (more than a random model's whole
    # loss, ln 400 ~ 6) end the run.
    assert run.summary["steps"] == 3 < 12
    assert run.summary["stopped_early"] is True
    assert [e["step"] for e in run.of("train")] == [1, 2, 3]
    assert [e["step"] for e in run.of("eval")][:3] == [1, 2, 3]


def answer_rows(answer: str, n: int) -> list[dict]:
    """The questions of chat_rows, every one answered with `answer`."""
    return [{"messages": [r["messages"][0], {"role": "assistant", "content": answer}]} for r in chat_rows(n)]


YES, NO = "yes yes yes yes yes yes yes yes", "no no no no no no no no"


@pytest.fixture(scope="module")
def says_yes(tiny_llama, tmp_path_factory) -> Path:
    """The tiny Llama fully fine-tuned to answer YES to every question (30 steps take its loss from the random
    model's ln 400 ~ 6 to about 0.4): a base that the validation set below already suits."""
    folder = tmp_path_factory.mktemp("says-yes")
    data = {"train": write_jsonl(folder / "yes.jsonl", answer_rows(YES, 48))}
    run = train(make_config(data, tiny_llama, method={"name": "full"}, max_steps=30), folder / "run")
    assert run.losses()[30] < 1.0
    return run.dir / "model"


def test_early_stopping_reloads_the_checkpoint_with_the_best_validation_loss(says_yes, tmp_path):
    """Fine-tuning the YES model towards NO while validating on YES moves away from the validation set with every
    step, so its loss rises after step 1: step 1 is the best, and its checkpoint is what the run must end with."""
    data = {"train": write_jsonl(tmp_path / "no.jsonl", answer_rows(NO, 48)),
            "validation": write_jsonl(tmp_path / "yes.jsonl", answer_rows(YES, 12))}
    run = train(make_config(data, f"{says_yes}", max_steps=12, eval_dataset=str(data["validation"]), eval_every=1,
                            early_stopping_patience=2, keep_checkpoints=5), tmp_path / "early")
    losses = [e["eval_loss"] for e in run.of("eval")]
    assert losses[0] < losses[1] < losses[2]  # the premise: validation loss rises after step 1 (~0.41, 0.54, 1.0)
    # patience 2: evaluations 2 and 3 did not improve on 1, so the run stops after step 3 of 12
    assert run.summary["steps"] == 3 and run.summary["stopped_early"] is True
    assert checkpoint_steps(run.dir) == [1, 2, 3]
    state = json.loads((run.dir / "checkpoints" / "checkpoint-3" / "trainer_state.json").read_text())
    assert Path(state["best_model_checkpoint"]).name == "checkpoint-1"
    weights = {step: run.dir / "checkpoints" / f"checkpoint-{step}" / "adapter_model.safetensors" for step in (1, 2, 3)}
    final = run.dir / "adapter" / "adapter_model.safetensors"
    assert_same_weights(weights[1], final)  # the saved adapter is checkpoint 1's, bit for bit ...
    for later in (2, 3):
        assert not same_weights(weights[later], final), later  # ... not the last step's nor any other
    # the final evaluation is of the reloaded model: step 1's loss again, not step 3's
    assert run.summary["final_eval"]["eval_loss"] == pytest.approx(losses[0], abs=1e-5)
    assert run.summary["final_eval"]["eval_loss"] < losses[2]


def test_without_early_stopping_a_run_is_not_stopped_early(chat_data, tiny_llama, tmp_path):
    run = train(make_config(chat_data, tiny_llama, max_steps=2), tmp_path / "plain")
    assert run.summary["stopped_early"] is False and run.summary["steps"] == 2


def test_early_stopping_without_eval_every_says_it_cannot_stop_early(chat_data, tiny_llama, tmp_path):
    run = train(make_config(chat_data, tiny_llama, max_steps=3, eval_dataset=str(chat_data["validation"]),
                            early_stopping_patience=1, early_stopping_min_delta=10.0), tmp_path / "no-eval-every")
    assert run.summary["steps"] == 3 and run.summary["stopped_early"] is False
    (setup,) = run.of("setup")
    assert any("early_stopping_patience is ignored" in note and "eval_every" in note for note in setup["notes"])
    assert [e["step"] for e in run.of("eval")] == [3]  # evaluated once, at the end


def assert_same_weights(a: Path, b: Path):
    from safetensors.torch import load_file

    first, second = load_file(str(a)), load_file(str(b))
    assert first.keys() == second.keys() and first
    for key in first:
        assert (first[key] == second[key]).all(), key


def same_weights(a: Path, b: Path) -> bool:
    import torch
    from safetensors.torch import load_file

    first, second = load_file(str(a)), load_file(str(b))
    assert first.keys() == second.keys() and first
    return all(torch.equal(first[key], second[key]) for key in first)


def assert_close_weights(a: Path, b: Path, atol: float = 1e-5):
    import torch
    from safetensors.torch import load_file

    first, second = load_file(str(a)), load_file(str(b))
    assert first.keys() == second.keys() and first
    for key in first:
        assert torch.allclose(first[key], second[key], atol=atol), key


# -- checkpoints and resume ------------------------------------------------------------------------------------------
def test_checkpoints_every_n_steps_keep_only_the_last_k(chat_data, tiny_llama, tmp_path):
    run = train(make_config(chat_data, tiny_llama, max_steps=8, save_every=2, keep_checkpoints=2), tmp_path / "ckpt")
    assert [e["step"] for e in run.of("checkpoint")] == [2, 4, 6, 8]
    assert checkpoint_steps(run.dir) == [6, 8]
    last = run.dir / "checkpoints" / "checkpoint-8"
    for name in ("adapter_model.safetensors", "trainer_state.json", "optimizer.pt", "scheduler.pt"):
        assert (last / name).is_file(), name
    assert (run.dir / "adapter" / "adapter_config.json").is_file()
    assert json.loads((run.dir / "summary.json").read_text())["steps"] == 8


@pytest.fixture(scope="module")
def straight_run(chat_data, tiny_llama, tmp_path_factory) -> Run:
    """Eight uninterrupted steps: the curve a resumed run must continue."""
    config = make_config(chat_data, tiny_llama, max_steps=8, save_every=2, warmup_ratio=0.25)
    return train(config, tmp_path_factory.mktemp("straight") / "run")


def test_resume_continues_the_same_curve_from_the_checkpoint(chat_data, tiny_llama, tmp_path, monkeypatch, straight_run):
    config = make_config(chat_data, tiny_llama, max_steps=8, save_every=2, warmup_ratio=0.25)
    with monkeypatch.context() as patch:
        stop_at(patch, 4)
        first = train(config, tmp_path / "run")
    assert first.summary["steps"] == 4 and checkpoint_steps(first.dir)[-1] == 4
    reference = straight_run.losses()
    assert first.losses() == pytest.approx({s: reference[s] for s in (1, 2, 3, 4)}, abs=1e-5)

    second = train(config, tmp_path / "run", resume=True)
    names = [event for event, _ in second.events]
    (resume,) = second.of("resume")
    assert resume["from_step"] == 4 and resume["checkpoint"].endswith("checkpoint-4")
    after = [fields for event, fields in second.events[names.index("resume"):] if event == "train"]
    assert after[0]["step"] == 5
    assert [e["step"] for e in after] == [5, 6, 7, 8]
    # Weights, optimizer, scheduler, RNG and data order come back: steps 5..8 are the straight run's steps 5..8.
    assert second.losses() == pytest.approx({s: reference[s] for s in (5, 6, 7, 8)}, abs=1e-4)
    assert second.lrs() == pytest.approx(straight_run.lrs()[4:], rel=1e-6)
    assert second.summary["steps"] == 8
    assert_close_weights(second.dir / "adapter" / "adapter_model.safetensors",
                         straight_run.dir / "adapter" / "adapter_model.safetensors")


def test_resume_after_a_kill_during_a_checkpoint_write_goes_back_to_the_whole_one(chat_data, tiny_llama, tmp_path,
                                                                                    monkeypatch, straight_run):
    config = make_config(chat_data, tiny_llama, max_steps=8, save_every=2, warmup_ratio=0.25)
    with monkeypatch.context() as patch:
        stop_at(patch, 4)
        train(config, tmp_path / "run")
    (tmp_path / "run" / "checkpoints" / "checkpoint-4" / "trainer_state.json").unlink()  # the Trainer writes it last
    resumed = train(config, tmp_path / "run", resume=True)
    assert resumed.of("resume")[0]["from_step"] == 2
    reference = straight_run.losses()
    assert resumed.losses() == pytest.approx({s: reference[s] for s in range(3, 9)}, abs=1e-4)
    assert checkpoint_steps(tmp_path / "run") == [6, 8]


def test_resume_honours_a_longer_max_steps(chat_data, tiny_llama, tmp_path):
    run_dir = tmp_path / "run"
    train(make_config(chat_data, tiny_llama, max_steps=4, save_every=2), run_dir)
    longer = train(make_config(chat_data, tiny_llama, max_steps=6, save_every=2), run_dir, resume=True)
    assert longer.of("resume")[0]["from_step"] == 4
    assert [e["step"] for e in longer.of("train")] == [5, 6]
    assert longer.summary["steps"] == 6 and checkpoint_steps(run_dir)[-1] == 6


def test_resume_without_a_checkpoint_is_a_config_error(chat_data, tiny_llama, tmp_path):
    from training import recipe
    from training.config import ConfigError

    (tmp_path / "empty").mkdir()
    events = []
    with pytest.raises(ConfigError, match="Nothing to resume"):
        recipe.train(make_config(chat_data, tiny_llama), tmp_path / "empty", lambda e, **f: events.append(e),
                     resume=True)
    assert events == [] and sorted(os.listdir(tmp_path / "empty")) == []


def write_checkpoint(folder: Path, step: int) -> Path:
    """A minimal checkpoint folder as latest_checkpoint checks it: trainer_state.json and safetensors weights."""
    import torch
    from safetensors.torch import save_file

    checkpoint = folder / "checkpoints" / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True)
    save_file({"w": torch.zeros(2)}, str(checkpoint / "adapter_model.safetensors"))
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return checkpoint


def damage_checkpoint(checkpoint: Path, damage: str):
    if damage == "state":
        (checkpoint / "trainer_state.json").write_text('{"global_st')  # torn while being written
    elif damage == "no-state":
        (checkpoint / "trainer_state.json").unlink()  # killed before the Trainer wrote it (it comes last)
    elif damage == "weights":
        (checkpoint / "adapter_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    else:
        (checkpoint / "adapter_model.safetensors").unlink()


DAMAGES = ["state", "no-state", "weights", "no-weights"]
PROBLEMS = {"state": "trainer_state.json is missing or corrupt", "no-state": "trainer_state.json is missing or corrupt",
            "weights": "adapter_model.safetensors is corrupt", "no-weights": "has no weights"}


@pytest.mark.parametrize("damage", DAMAGES)
def test_resume_from_a_corrupt_checkpoint_is_a_config_error(tmp_path, damage):
    from training import recipe
    from training.config import ConfigError

    damage_checkpoint(write_checkpoint(tmp_path, 4), damage)
    with pytest.raises(ConfigError, match="Cannot resume") as error:
        recipe.latest_checkpoint(tmp_path)
    assert "checkpoint-4" in str(error.value) and PROBLEMS[damage] in str(error.value)


@pytest.mark.parametrize("damage", DAMAGES)
def test_resume_skips_a_torn_newest_checkpoint_for_the_newest_whole_one(tmp_path, damage):
    """A job killed while writing checkpoint-6 resumes from checkpoint-4, not never."""
    from training import recipe
    from training.config import ConfigError

    write_checkpoint(tmp_path, 2)
    write_checkpoint(tmp_path, 4)
    damage_checkpoint(write_checkpoint(tmp_path, 6), damage)
    (tmp_path / "checkpoints" / "checkpoint-10-tmp").mkdir()  # not a checkpoint name: ignored
    assert recipe.latest_checkpoint(tmp_path) == tmp_path / "checkpoints" / "checkpoint-4"
    for step in (2, 4):
        damage_checkpoint(tmp_path / "checkpoints" / f"checkpoint-{step}", damage)
    with pytest.raises(ConfigError, match="checkpoint-6.*2 older one"):
        recipe.latest_checkpoint(tmp_path)


def test_cli_resume_from_a_corrupt_checkpoint_exits_2_and_writes_nothing(chat_data, tiny_llama, tmp_path):
    config = make_config(chat_data, tiny_llama)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(config.to_yaml(), encoding="utf-8")
    run_dir = tmp_path / "run"
    checkpoint = run_dir / "checkpoints" / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")
    before = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*"))
    env = {**os.environ, "PHARMATUNE_RUNS": str(tmp_path / "runs")}
    proc = subprocess.run([sys.executable, "-m", "training", "run", str(config_path), "--run-dir", str(run_dir),
                           "--resume"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Cannot resume" in proc.stderr and "trainer_state.json" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")) == before
    assert not (tmp_path / "runs").exists()  # no store, no run directory


def test_cli_resume_without_a_run_dir_is_a_usage_error(chat_data, tiny_llama, tmp_path, capsys):
    from training.__main__ import main

    config_path = tmp_path / "config.yaml"
    config_path.write_text(make_config(chat_data, tiny_llama).to_yaml(), encoding="utf-8")
    assert main(["run", str(config_path), "--resume"]) == 2
    assert "--run-dir" in capsys.readouterr().err


# -- reproducibility -------------------------------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_losses_and_another_seed_does_not(chat_data, tiny_llama, tmp_path):
    a = train(make_config(chat_data, tiny_llama, seed=11), tmp_path / "a")
    b = train(make_config(chat_data, tiny_llama, seed=11), tmp_path / "b")
    c = train(make_config(chat_data, tiny_llama, seed=12), tmp_path / "c")
    assert list(a.losses()) == [1, 2, 3]
    assert a.losses() == b.losses()
    assert a.losses() != pytest.approx(c.losses(), abs=1e-4)


# -- batching and loss -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def loss_parts(chat_data, tiny_llama):
    """The tiny model with LoRA (no dropout), its tokenizer and six features of the training set."""
    from training import recipe

    config = make_config(chat_data, tiny_llama, method={"name": "lora", "dropout": 0.0})
    parts = recipe.setup(config, lambda *a, **k: None)
    return parts, config


def full_logits_loss(model, batch) -> float:
    """The textbook causal LM loss on a padded batch: all logits, shift by one, mean over labelled tokens."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return float(F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1),
                                 ignore_index=-100))


def compute_loss(trainer_class, model, batch, *, training: bool = False) -> float:
    import types

    import torch

    fake = types.SimpleNamespace(causal_loss=True, tokens_seen=0,
                                 args=types.SimpleNamespace(average_tokens_across_devices=False),
                                 accelerator=types.SimpleNamespace(num_processes=1))
    count = int((batch["labels"][:, 1:] != -100).sum())
    model.train(training)
    try:
        with torch.no_grad():
            return float(trainer_class.compute_loss(fake, model, batch,
                                                    num_items_in_batch=torch.tensor(count) if training else None))
    finally:
        model.eval()


def test_padding_free_batches_and_selective_logits_give_the_plain_loss(loss_parts):
    from training import recipe
    from training.config import TrainConfig
    from training.tasks import sft

    parts, config = loss_parts
    model, tokenizer = parts["model"], parts["tokenizer"]
    features = parts["train"][:6]
    assert len({len(f["input_ids"]) for f in features}) > 1  # different lengths: padding has work to do
    padded = sft.collator(tokenizer, TrainConfig(**{**config.__dict__, "batching": "padding"}), {})(features)
    flat = sft.collator(tokenizer, config, {})(features)
    assert "attention_mask" not in flat and flat["input_ids"].shape[0] == 1  # one row, no pad tokens
    assert flat["input_ids"].shape[1] == sum(len(f["input_ids"]) for f in features) < padded["input_ids"].numel()
    assert (padded["input_ids"] == tokenizer.pad_token_id).any()

    reference = full_logits_loss(model, padded)
    trainer_class = recipe.make_trainer_class()
    for training in (False, True):  # mean over tokens (eval) and sum / tokens in the batch (train)
        assert compute_loss(trainer_class, model, dict(padded), training=training) == pytest.approx(reference, abs=1e-4)
        assert compute_loss(trainer_class, model, dict(flat), training=training) == pytest.approx(reference, abs=1e-4)


def test_padding_free_and_padding_runs_take_the_same_first_steps(chat_data, tiny_llama, tmp_path):
    runs = [train(make_config(chat_data, tiny_llama, max_steps=2, batching=batching,
                              method={"name": "lora", "dropout": 0.0}), tmp_path / batching)
            for batching in ("padding_free", "padding")]
    assert runs[0].losses() == pytest.approx(runs[1].losses(), abs=1e-4)
    # The padded run counts its real tokens only (the attention mask), so both report the same token count.
    assert runs[0].summary["tokens"] == runs[1].summary["tokens"]


def test_assistant_only_loss_ignores_the_prompt_tokens(loss_parts, tiny_llama):
    import torch

    from training import recipe
    from training.tasks import sft

    parts, config = loss_parts
    model, tokenizer = parts["model"], parts["tokenizer"]
    messages = [{"role": "user", "content": "warfarin + aspirin?"}, {"role": "assistant", "content": "interaction"}]
    only = sft.encode(tokenizer, messages, 128, assistant_only=True)
    every = sft.encode(tokenizer, messages, 128, assistant_only=False)
    assert only["input_ids"] == every["input_ids"] and every["labels"] == every["input_ids"]
    learned = [t for t in only["labels"] if t != -100]
    assert tokenizer.decode(learned).startswith("interaction<|im_end|>")
    assert "warfarin" not in tokenizer.decode(learned) and "user" not in tokenizer.decode(learned)
    first = only["labels"].index(learned[0])
    assert all(t == -100 for t in only["labels"][:first])
    assert tokenizer.decode(only["input_ids"][:first]).endswith("<|im_start|>assistant\n")

    # The loss is the loss of the answer tokens only: changing the question's tokens' targets changes nothing.
    trainer_class = recipe.make_trainer_class()
    batch = {k: torch.tensor([v]) for k, v in only.items()}
    batch["attention_mask"] = torch.ones_like(batch["input_ids"])
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"]).logits[0]
    answer = torch.tensor([i for i, t in enumerate(only["labels"]) if t != -100])
    manual = torch.nn.functional.cross_entropy(logits[answer - 1], batch["input_ids"][0, answer])
    assert compute_loss(trainer_class, model, dict(batch)) == pytest.approx(float(manual), abs=1e-5)
    everything = {**batch, "labels": torch.tensor([every["labels"]])}
    assert compute_loss(trainer_class, model, everything) != pytest.approx(float(manual), abs=1e-3)


def test_gradient_checkpointing_trains_the_same(chat_data, tiny_llama, tmp_path, monkeypatch):
    from training import recipe

    models = []
    real_save = recipe.save
    monkeypatch.setattr(recipe, "save", lambda model, *args: (models.append(model), real_save(model, *args)))
    plain = train(make_config(chat_data, tiny_llama, max_steps=2), tmp_path / "plain")
    checkpointed = train(make_config(chat_data, tiny_llama, max_steps=2, gradient_checkpointing=True),
                         tmp_path / "checkpointed")
    checkpointing = [any(getattr(m, "gradient_checkpointing", False) for m in model.modules()) for model in models]
    assert checkpointing == [False, True]  # the layers really recomputed their activations
    assert checkpointed.summary["steps"] == 2
    assert checkpointed.losses() == pytest.approx(plain.losses(), abs=1e-4)


# -- reporting -------------------------------------------------------------------------------------------------------
def test_summary_events_and_tensorboard(chat_data, tiny_llama, tmp_path):
    run = train(make_config(chat_data, tiny_llama, max_steps=2, tensorboard=True), tmp_path / "run")
    summary = run.summary
    assert summary == json.loads((run.dir / "summary.json").read_text())
    assert 0 < summary["trainable_params"] < summary["total_params"]
    assert summary["trainable_percent"] == pytest.approx(100 * summary["trainable_params"] / summary["total_params"],
                                                         abs=1e-3)
    assert summary["tokens_per_s"] > 0 and summary["peak_memory_mb"] > 0 and summary["tokens"] > 0
    assert summary["precision"] == "fp32" and summary["device"] == "cpu"
    (setup,) = run.of("setup")
    assert setup["trainable_params"] == summary["trainable_params"] and setup["planned_steps"] == 2
    for event in run.of("train"):
        assert {"loss", "lr", "grad_norm", "tokens_per_s", "eta_s", "peak_memory_mb", "epoch"} <= set(event)
        assert math.isfinite(event["loss"]) and event["grad_norm"] > 0
    boards = list((run.dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert boards and all(p.stat().st_size > 0 for p in boards)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = EventAccumulator(str(boards[0].parent)).Reload().Tags()["scalars"]
    assert any("loss" in tag for tag in scalars)


def test_no_tensorboard_when_turned_off(chat_data, tiny_llama, tmp_path):
    run = train(make_config(chat_data, tiny_llama, max_steps=1, tensorboard=False), tmp_path / "run")
    assert not (run.dir / "tensorboard").exists()


# -- failures --------------------------------------------------------------------------------------------------------
def test_failure_messages_are_readable_sentences(tmp_path):
    import torch

    from training.__main__ import failure_message

    (tmp_path / "checkpoints").mkdir()
    oom = failure_message(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), tmp_path)
    assert oom.startswith("Out of memory: lower batch_size or max_length")
    assert "gradient_checkpointing" in oom and "Checkpoints" not in oom
    assert failure_message(MemoryError(), tmp_path).startswith("Out of memory")
    (tmp_path / "checkpoints" / "checkpoint-4").mkdir()
    full = failure_message(OSError(errno.ENOSPC, "No space left on device", "/runs/x/adapter"), tmp_path)
    assert full.startswith("The disk is full (/runs/x/adapter): free space, then resume.")
    assert full.endswith(f"Checkpoints so far are kept in {tmp_path / 'checkpoints'}.")
    other = failure_message(RuntimeError("boom"), tmp_path)
    assert other.startswith("RuntimeError: boom") and "kept" in other
    assert failure_message(OSError(errno.EACCES, "Permission denied"), tmp_path).startswith("PermissionError")


def test_a_run_failing_midway_is_marked_failed_and_keeps_its_checkpoints(chat_data, tiny_llama, isolated_runs,
                                                                         monkeypatch, capsys):
    import jobs
    from training import __main__ as cli, recipe

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "adapter")

    monkeypatch.setattr(recipe, "save", disk_full)
    run_dir = isolated_runs / "training-midway"
    code, summary = cli.run(make_config(chat_data, tiny_llama, max_steps=4, save_every=2), run_dir, quiet=True)
    assert code == 1
    assert summary["error"].startswith("The disk is full (adapter): free space, then resume.")
    assert "Checkpoints so far are kept" in summary["error"]
    assert checkpoint_steps(run_dir) == [2, 4] and not (run_dir / "adapter").exists()
    run = jobs.get("training-midway")
    assert run.status == "failed" and run.error == summary["error"] and run.finished is not None
    events, _ = jobs.events(run_dir)
    assert events[-1]["event"] == "status" and events[-1]["status"] == "failed"
    assert [e["status"] for e in events if e["event"] == "status"] == ["running", "failed"]
    assert any(e["event"] == "train" for e in events)
