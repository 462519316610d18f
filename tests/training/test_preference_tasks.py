"""What the preference and RL tasks promise, on the tiny random Llama: DPO and ORPO raise the chosen answer's
margin over the rejected one, KTO raises the desirable completions' log-probability, GRPO raises the mean reward;
their LoRA runs leave every base weight bit-identical and keep no copy of the model as the reference; their steps
write typed events (rewards, KL, margins) and resume from checkpoints like SFT; bad input is refused before the
job starts, naming the field."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.training.conftest import config_of, train, write_jsonl
from training.config import ConfigError, TrainConfig

DRUGS = ["fluconazole", "aspirin", "amiodarone", "clarithromycin", "ibuprofen", "rifampicin", "omeprazole",
         "metronidazole"]


def pair_rows(n: int = 8) -> list[dict]:
    """Prompts whose preferred answer is short and whose rejected one is a different string."""
    return [{"prompt": [{"role": "user", "content": f"Does warfarin interact with {DRUGS[i % len(DRUGS)]}?"}],
             "chosen": [{"role": "assistant", "content": "interaction"}],
             "rejected": [{"role": "assistant", "content": "no interaction, none at all"}]} for i in range(n)]


@pytest.fixture
def pairs_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", pair_rows())


@pytest.fixture
def kto_file(tmp_path) -> Path:
    rows = [{"prompt": r["prompt"], "completion": r[side], "label": side == "chosen"}
            for r in pair_rows() for side in ("chosen", "rejected")]
    return write_jsonl(tmp_path / "kto.jsonl", rows)


@pytest.fixture
def prompts_file(tmp_path) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"Name the molecule of {d}."},
                          {"role": "assistant", "content": "CCO"}], "meta": {"smiles": "CCO", "id": f"m{i}"}}
            for i, d in enumerate(DRUGS)]
    return write_jsonl(tmp_path / "prompts.jsonl", rows)


def train_series(run, name: str) -> list[float]:
    return [e[name] for e in run.of("train")]


def assert_base_untouched_and_adapter_trained(run):
    after = run.after()
    assert run.from_disk, "no base weight was compared"
    for name in run.from_disk:
        assert torch.equal(after[name].cpu(), run.before[name].cpu()), f"base weight {name} changed"
    adapters = [n for n in after if "lora_" in n]
    assert adapters and any(not torch.equal(after[n], run.loaded[n]) for n in adapters)
    assert all(".ref." not in n for n in after), "a copy of the adapter was kept as the reference"
    assert not (run.run_dir / "adapter" / "ref").exists()
    assert (run.run_dir / "adapter" / "adapter_config.json").is_file()


# -- each task does what it promises ----------------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["dpo", "orpo"])
def test_dpo_and_orpo_raise_the_chosen_over_rejected_margin_and_lora_keeps_the_base(task, pairs_file, tiny_llama,
                                                                                    tmp_path):
    run = train({"dataset": str(pairs_file), "base_model": f"hf:{tiny_llama}", "task": task, "max_steps": 6,
                 "method": "lora"}, tmp_path / "run", capture=True)
    margins = train_series(run, "margin")
    assert len(margins) == 6 and margins[-1] > margins[0] + 0.001, margins
    assert run.of("train")[-1]["accuracy"] == 1.0
    for name in ("chosen_reward", "rejected_reward", "chosen_logp", "rejected_logp", "loss"):
        assert all(isinstance(v, float) for v in train_series(run, name)), name
    assert_base_untouched_and_adapter_trained(run)


def completion_logp(model, tokenizer, prompt: list[dict], answer: str) -> float:
    """log p(answer | prompt) with the chat template, summed over the answer's tokens."""
    start = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(prompt + [{"role": "assistant", "content": answer}], tokenize=False)
    ids = tokenizer(full, add_special_tokens=False, return_tensors="pt").input_ids
    n = len(tokenizer(start, add_special_tokens=False).input_ids)
    with torch.no_grad():
        logps = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
    return float(logps.gather(-1, ids[0, 1:, None])[n - 1:, 0].sum())


def test_kto_raises_the_desirable_completions_log_probability(kto_file, tiny_llama, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = train({"dataset": str(kto_file), "base_model": f"hf:{tiny_llama}", "task": "kto", "max_steps": 6,
                 "method": "lora"}, tmp_path / "run", capture=True)
    assert_base_untouched_and_adapter_trained(run)
    assert all(isinstance(e.get("kl"), float) for e in run.of("train"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    prompts = [r["prompt"] for r in pair_rows()]
    before = sum(completion_logp(base, tokenizer, p, "interaction") for p in prompts)
    trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), run.run_dir / "adapter").eval()
    after = sum(completion_logp(trained, tokenizer, p, "interaction") for p in prompts)
    assert after > before + 1.0, (before, after)


GRPO_TOY = {"rewards": [{"metric": "format", "pattern": "(?s).*[A-Z].*"}], "num_generations": 8,
            "max_completion_length": 6}


def test_grpo_raises_the_mean_reward_on_a_verifiable_toy_task(prompts_file, tiny_llama, tmp_path):
    """The toy task: answer with a capital letter in it (a format reward, checked by a pattern). A random model
    manages it about a third of the time; a few full fine-tuning steps make it the rule."""
    run = train({"dataset": str(prompts_file), "base_model": f"hf:{tiny_llama}", "task": "grpo", "method": "full",
                 "max_steps": 8, "batch_size": 16, "schedule": "constant", "grpo": GRPO_TOY}, tmp_path / "run")
    rewards = train_series(run, "reward_mean")
    assert len(rewards) == 8
    assert sum(rewards[-4:]) / 4 > sum(rewards[:2]) / 2 + 0.15, rewards
    last = run.of("train")[-1]
    assert set(last["rewards"]) == {"format"} and set(last["rewards"]["format"]) == {"mean", "std"}
    assert last["rewards"]["format"]["mean"] == pytest.approx(last["reward_mean"])
    assert isinstance(last["completion_length"], float)
    (setup,) = run.of("setup")
    assert setup["planned_steps"] == 8 and setup["task"] == "grpo"


def test_grpo_with_lora_and_a_kl_penalty_keeps_the_base_and_logs_the_kl(prompts_file, tiny_llama, tmp_path):
    rewards = [{"metric": "smiles_validity", "weight": 0.5}, {"metric": "smiles_exact_match", "reference": "smiles"},
               {"metric": "length", "max_words": 2, "weight": 0.2}, {"metric": "length", "max_words": 4},
               *GRPO_TOY["rewards"]]  # the last one varies within a group even for a random model
    run = train({"dataset": str(prompts_file), "base_model": f"hf:{tiny_llama}", "task": "grpo", "method": "lora",
                 "max_steps": 2, "learning_rate": 5e-2,
                 "grpo": {"rewards": rewards, "num_generations": 4, "max_completion_length": 6, "beta": 0.1}},
                tmp_path / "run", capture=True)
    assert_base_untouched_and_adapter_trained(run)
    last = run.of("train")[-1]
    assert set(last["rewards"]) == {"smiles_validity", "smiles_exact_match", "length", "length_2", "format"}
    assert isinstance(last["kl"], float) and last["kl"] >= 0


def test_full_dpo_with_precomputed_reference_log_probabilities(pairs_file, tiny_llama, tmp_path):
    run = train({"dataset": str(pairs_file), "base_model": f"hf:{tiny_llama}", "task": "dpo", "method": "full",
                 "max_steps": 3, "learning_rate": 1e-3, "preference": {"reference": "precompute", "beta": 0.2}},
                tmp_path / "run")
    margins = train_series(run, "margin")
    assert margins[-1] > margins[0]
    assert (run.run_dir / "model" / "config.json").is_file()


# -- checkpoints, resume, events ----------------------------------------------------------------------------------------
def test_a_dpo_run_resumes_from_its_checkpoint(pairs_file, tiny_llama, tmp_path):
    spec = {"dataset": str(pairs_file), "base_model": f"hf:{tiny_llama}", "task": "dpo", "save_every": 2}
    first = train({**spec, "max_steps": 2}, tmp_path / "run")
    assert [e["step"] for e in first.of("checkpoint")] == [2]
    longer = train({**spec, "max_steps": 4}, tmp_path / "run", resume=True)
    assert longer.of("resume")[0]["from_step"] == 2
    assert [e["step"] for e in longer.of("train")] == [3, 4]
    assert longer.summary["steps"] == 4


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("PHARMATUNE_STORE_URL", raising=False)
    (tmp_path / "runs").mkdir()
    return tmp_path / "runs"


def test_preference_and_grpo_runs_through_the_cli_write_only_valid_events(runs, pairs_file, prompts_file, tiny_llama,
                                                                            tmp_path):
    from jobs.event_schema import read
    from training.__main__ import main

    base = {"base_model": f"hf:{tiny_llama}", "max_steps": 2, "batch_size": 4, "max_length": 64,
            "tensorboard": False, "warmup_ratio": 0.0, "learning_rate": 1e-2, "eval_split": None}
    specs = {"dpo": {**base, "dataset": str(pairs_file), "task": "dpo", "eval_dataset": str(pairs_file),
                     "eval_every": 1},
             "grpo": {**base, "dataset": str(prompts_file), "task": "grpo",
                      "grpo": {**GRPO_TOY, "num_generations": 4}}}
    for name, spec in specs.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec), encoding="utf-8")
        assert main(["check", str(path)]) == 0
        assert main(["run", str(path), "--run-dir", str(runs / f"training-{name}"), "--quiet"]) == 0
        events, _ = read(runs / f"training-{name}", strict=True)  # every line matches its kind's schema
        kinds = [e["event"] for e in events]
        assert kinds[-1] == "status" and events[-1]["status"] == "done"
        assert "train" in kinds
    dpo, _ = read(runs / "training-dpo")
    assert any("eval_rewards/margins" in e for e in dpo if e["event"] == "eval")

    from training.progress import TrainProgress

    progress = TrainProgress("training-grpo")
    for event in read(runs / "training-grpo")[0]:
        progress.apply(event)
    assert progress.plots == ["reward"] and [s for s, _ in progress.series("reward_mean")] == [1, 2]
    assert set(progress.reward_components()) == {"format"}


# -- bad input, refused before the job starts ----------------------------------------------------------------------
@pytest.mark.parametrize("grpo, expected", [
    ({"rewards": [{"metric": "smiles_canonical_match"}]},
     "grpo.rewards[0].metric: unknown metric 'smiles_canonical_match'. Did you mean 'smiles_exact_match'"),
    ({"rewards": [{"metric": "auroc"}]}, "grpo.rewards[0].metric: auroc has no per-item score"),
    ({"rewards": [{"metric": "brier"}]}, "reads the label probabilities of choice mode"),
    ({"rewards": [{"metric": "format"}]}, "grpo.rewards[0].pattern: the format reward needs a pattern"),
    ({"rewards": [{"metric": "format", "pattern": "(unclosed"}]}, "is not a regular expression"),
    ({"rewards": [{"metric": "length"}]}, "grpo.rewards[0].max_words"),
    ({"rewards": []}, "grpo.rewards is empty"),
    ({"rewards": [{"metric": "tanimoto", "wieght": 2}]}, "unknown field 'wieght'. Did you mean 'weight'?"),
    ({"rewards": [{"metric": "smiles_validity"}], "num_generations": 3},
     "batch_size 4 must be a multiple of grpo.num_generations 3"),
    ({"rewards": [{"metric": "smiles_validity"}], "num_generations": 1}, "grpo.num_generations must be at least 2"),
])
def test_grpo_config_mistakes_name_the_field(grpo, expected):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"dataset": "x.jsonl", "task": "grpo", "grpo": grpo})
    assert expected in str(info.value)


def test_preference_settings_are_checked_against_the_task():
    with pytest.raises(ConfigError, match="preference.loss_type 'kto' is not a dpo loss"):
        TrainConfig.from_dict({"dataset": "x", "task": "dpo", "preference": {"loss_type": "kto"}})
    with pytest.raises(ConfigError, match="batch_size 1: kto needs at least 2"):
        TrainConfig.from_dict({"dataset": "x", "task": "kto", "batch_size": 1})
    with pytest.raises(ConfigError, match="preference.beta must be positive"):
        TrainConfig.from_dict({"dataset": "x", "task": "kto", "preference": {"beta": 0}})
    config = TrainConfig.from_dict({"dataset": "x", "task": "dpo", "preference": {"beta": 0.3},
                                    "eval_benchmarks": ["ddi-binary"], "eval_every": 5})
    assert config.preference.beta == 0.3 and "grpo" not in config.to_dict()  # a task writes its own section only
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert "preference" not in TrainConfig.from_dict({"dataset": "x"}).to_dict()


def check(spec: dict):
    from training.preflight import check as preflight

    return preflight(config_of(spec))


def test_the_wrong_kind_of_data_for_the_task_is_refused_before_training(pairs_file, kto_file, prompts_file, tiny_llama):
    from data.records import DataError

    model = f"hf:{tiny_llama}"
    with pytest.raises(DataError, match="a preference file .* sft, classification, regression, pretrain and grpo"):
        check({"dataset": str(pairs_file), "base_model": model, "task": "sft"})
    with pytest.raises(DataError, match="a chat file .*preference tasks"):
        check({"dataset": str(prompts_file), "base_model": model, "task": "dpo"})
    with pytest.raises(ConfigError, match="dpo trains on pairs .* example 1 is a single labelled completion"):
        check({"dataset": str(kto_file), "base_model": model, "task": "dpo"})
    assert check({"dataset": str(pairs_file), "base_model": model, "task": "kto"}).examples == 16  # unpaired
    rewards = [{"metric": "smiles_validity"}, {"metric": "tanimoto", "reference": "inchi"}]
    with pytest.raises(ConfigError, match=r"grpo.rewards\[1\].reference: record m\d of .* has no field "
                                          r"'inchi'; its fields: answer, id, smiles"):
        check({"dataset": str(prompts_file), "base_model": model, "task": "grpo", "grpo": {"rewards": rewards}})


def test_grpo_on_a_classification_head_is_refused(prompts_file, tiny_llama, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    head = tmp_path / "head"
    AutoModelForSequenceClassification.from_pretrained(tiny_llama, num_labels=2).save_pretrained(head)
    AutoTokenizer.from_pretrained(tiny_llama).save_pretrained(head)
    with pytest.raises(ConfigError, match="is a LlamaForSequenceClassification .* grpo trains a model that writes"):
        check({"dataset": str(prompts_file), "base_model": f"hf:{head}", "task": "grpo",
               "grpo": {"rewards": [{"metric": "smiles_validity"}]}})


# -- the examples ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["smiles-grpo", "ddi-dpo"])
def test_the_example_configs_pass_the_check(name, builtin_folder, capsys):
    from training.__main__ import main

    root = Path(__file__).resolve().parents[2]
    assert main(["check", str(root / "training" / "examples" / f"{name}.yaml")]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip().endswith("ok")
    spec = yaml.safe_load((root / "training" / "examples" / f"{name}.yaml").read_text())
    assert spec["task"] == {"smiles-grpo": "grpo", "ddi-dpo": "dpo"}[name]
    json.dumps(spec)  # plain YAML: the UI shows it as is
