"""GRPO (TRL's GRPOTrainer) on chat records: for each prompt the model writes `num_generations` answers, the rewards
(training.rewards: metrics from the registry, format, length) score them, and each answer's advantage over its
group's mean pushes the policy. The records' answers are never trained on; they (or a meta field) are what the
rewards compare with. `Settings` are its config fields (`grpo.num_generations` ...).

The KL penalty (grpo.beta > 0) reads a reference model: with an adapter method the frozen base with the adapter
switched off (no second copy), with full fine-tuning a frozen copy. batch_size counts completions, so it is a
multiple of num_generations (batch_size 8, num_generations 4: two prompts a step).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from config_loader import build, describe
from errors import ConfigError
from training.rewards import Reward

LOSS_TYPES = ("dapo", "grpo", "dr_grpo", "bnpo")
SCALE_REWARDS = ("group", "batch", "none")


@dataclass
class Settings:
    """GRPO: the rewards, the group of answers per prompt, sampling, the KL penalty."""

    rewards: list[Reward] = field(default_factory=list, metadata=describe(
        "Rewards", "each {metric, weight, reference, pattern, max_words, labels}: a registered metric with a "
        "per-item score, or format / length"))
    num_generations: int = field(default=4, metadata=describe(
        "Answers per prompt (group size)", "answers sampled per prompt; their rewards are compared within the group",
        short="Answers per prompt", minimum=2, form_id="grpo-generations"))
    max_completion_length: int = field(default=64, metadata=describe(
        "Max answer length (tokens)", "tokens per sampled answer", short="Max answer length", minimum=1,
        form_id="grpo-max-completion"))
    temperature: float = field(default=1.0, metadata=describe(
        "Sampling temperature", "higher: more varied answers within a group", exclusive_minimum=0,
        form_id="grpo-temperature"))
    top_p: float = field(default=1.0, metadata=describe(
        "Top-p", "nucleus sampling: the smallest set of tokens with this probability", exclusive_minimum=0, maximum=1,
        form_id="grpo-top-p"))
    beta: float = field(default=0.0, metadata=describe(
        "KL coefficient (beta)", "the penalty on moving away from the reference model; 0: none (no reference read)",
        short="KL coefficient", minimum=0, typical="0 to 0.1", form_id="grpo-beta"))
    loss_type: str = field(default="dapo", metadata=describe(
        "Loss type", "how token losses are averaged: dapo (over the batch's tokens), grpo (per answer), dr_grpo, "
        "bnpo", choices=LOSS_TYPES, form_id="grpo-loss"))
    scale_rewards: str = field(default="group", metadata=describe(
        "Reward scaling", "advantages divided by the group's reward std, the batch's, or none (Dr. GRPO)",
        choices=SCALE_REWARDS, form_id="grpo-scale"))

    def __post_init__(self):
        self.rewards = [build(Reward, r, f"grpo.rewards[{i}]", prefix=f"grpo.rewards[{i}].")
                        if isinstance(r, dict) else r for i, r in enumerate(self.rewards or [])]

    def check_for(self, config) -> None:
        from training import rewards

        rewards.check(self.rewards)
        if int(config.batch_size) % int(self.num_generations):
            raise ConfigError(f"batch_size {config.batch_size} must be a multiple of grpo.num_generations "
                              f"{self.num_generations}: batch_size counts answers, and each step scores whole groups "
                              f"of {self.num_generations} answers per prompt.")


# -- data ----------------------------------------------------------------------------------------------------
def load_items(config, split):
    from training.tasks import records

    return records(config, split, shuffle=split == config.train_split)


def prepare(config, items, model_config) -> dict:
    from training import rewards
    from training.tasks.preference import check_writes_text

    check_writes_text(config, model_config)
    rewards.check_data(config.grpo.rewards, items, config.dataset)
    return {"causal_loss": False, "records": items}


def load_model(folder, config, dtype, extra, **kwargs):
    from training.tasks.sft import load_model as causal

    return causal(folder, config, dtype, extra, **kwargs)


def features(items, tokenizer, config, extra):
    """Prompts (the records' turns before the answer) and the columns the rewards read."""
    from datasets import Dataset

    from training import rewards
    from training.tasks.preference import conversation

    rows = []
    for record in items:
        prompt = conversation(tokenizer, record.prompt_messages)
        rows.append({"prompt": prompt if tokenizer.chat_template else prompt + "Assistant:",
                     **rewards.columns(config.grpo.rewards, record)})
    return Dataset.from_list(rows), []


def collator(tokenizer, config, extra):
    return None


def answers_per_prompt(config) -> int:
    """batch_size counts answers, so an epoch is num_generations answers per prompt (the recipe's step count)."""
    return int(config.grpo.num_generations)


# -- the trainer -----------------------------------------------------------------------------------------------
def trainer_base():
    from trl import GRPOTrainer

    return GRPOTrainer


def arguments(config, common: dict):
    from trl import GRPOConfig

    settings = config.grpo
    return GRPOConfig(**{**common, "num_generations": int(settings.num_generations),
                         "max_completion_length": int(settings.max_completion_length),
                         "temperature": float(settings.temperature), "top_p": float(settings.top_p),
                         "beta": float(settings.beta), "loss_type": settings.loss_type,
                         "scale_rewards": settings.scale_rewards,
                         "reward_weights": [float(r.weight) for r in settings.rewards],
                         "log_completions": False,
                         "disable_dropout": True})


def trainer_kwargs(kwargs: dict, parts: dict, config) -> dict:
    from training import rewards

    for unused in ("compute_metrics", "data_collator"):
        kwargs.pop(unused, None)
    return {**kwargs, "reward_funcs": rewards.functions(config.grpo.rewards, parts["extra"]["records"])}


def after_init(trainer) -> None:
    from training.tasks.preference import drop_reference_adapter

    drop_reference_adapter(trainer)


def log_fields(logs: dict) -> dict:
    """TRL's GRPO log -> the train event's reward_mean/std, per-component rewards, kl, completion length."""
    def number(key):
        value = logs.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    out = {name: number(key) for key, name in (("reward", "reward_mean"), ("reward_std", "reward_std"), ("kl", "kl"),
                                               ("completions/mean_length", "completion_length"))}
    components: dict[str, dict] = {}
    for key in logs:
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "rewards" and parts[2] in ("mean", "std") and number(key) is not None:
            components.setdefault(parts[1], {})[parts[2]] = number(key)
    if components:
        out["rewards"] = components
    return {k: v for k, v in out.items() if v is not None}
