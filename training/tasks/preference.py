"""Preference tasks on TRL: dpo and orpo train on pairs (a prompt, a chosen and a rejected answer), kto on answers
labelled desirable or not (pairs are unpaired: chosen desirable, rejected not). `Settings` are their config fields
(`preference.beta` ...); dpo.py, kto.py and orpo.py name their TRL trainer and config.

The reference model (DPO, KTO): with an adapter method (lora, ia3, qlora) it is the frozen base itself, read with
the adapter switched off, so no second copy is in memory; with full fine-tuning (or bitfit) TRL loads a frozen
copy, unless `preference.reference: precompute` computes the reference log-probabilities once before training.
ORPO needs no reference model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from config_loader import describe
from errors import ConfigError

DPO_LOSSES = ("sigmoid", "ipo", "hinge", "robust", "sigmoid_norm", "bco_pair", "sppo_hard", "nca_pair", "apo_zero",
              "apo_down", "discopop", "exo_pair", "aot", "aot_unpaired")
KTO_LOSSES = ("kto", "apo_zero_unpaired")
LOSS_TYPES = ("auto", *DPO_LOSSES, *KTO_LOSSES)
REFERENCES = ("auto", "precompute")


@dataclass
class Settings:
    """DPO, KTO and ORPO: how far the model may move, the loss, the reference model."""

    beta: float = field(default=0.1, metadata=describe(
        "Beta", "dpo/kto: the KL penalty's strength (higher: the model stays nearer the reference); orpo: the "
        "odds-ratio term's weight (λ)", exclusive_minimum=0, typical="0.05 to 0.5"))
    loss_type: str = field(default="auto", metadata=describe(
        "Loss type", "auto: sigmoid for dpo, kto for kto; dpo: sigmoid, ipo, hinge, robust …; kto: kto or "
        "apo_zero_unpaired (orpo has one loss)", choices=LOSS_TYPES, form_id="pref-loss"))
    reference: str = field(default="auto", metadata=describe(
        "Reference model", "auto: the frozen base with the adapter off (adapters), a frozen copy (full); "
        "precompute: reference log-probabilities computed once before training, no copy kept", choices=REFERENCES))
    label_smoothing: float = field(default=0.0, metadata=describe(
        "Label smoothing", "dpo robust/exo_pair: the share of pairs assumed flipped", minimum=0, exclusive_maximum=0.5))
    desirable_weight: float = field(default=1.0, metadata=describe(
        "Desirable weight (KTO)", "kto: the weight of desirable completions' losses", exclusive_minimum=0,
        short="Desirable weight"))
    undesirable_weight: float = field(default=1.0, metadata=describe(
        "Undesirable weight (KTO)", "kto: the weight of undesirable completions' losses", exclusive_minimum=0,
        short="Undesirable weight"))

    def check_for(self, config) -> None:
        """The rules that depend on the task: each task's own loss types."""
        allowed = {"dpo": DPO_LOSSES, "kto": KTO_LOSSES, "orpo": ()}[config.task]
        if self.loss_type != "auto" and self.loss_type not in allowed:
            own = f"one of {', '.join(allowed)} (or auto)" if allowed else "auto (ORPO has one loss)"
            raise ConfigError(f"preference.loss_type {self.loss_type!r} is not a {config.task} loss; use {own}.")
        if config.task == "orpo" and self.reference != "auto":
            raise ConfigError("preference.reference: orpo uses no reference model; leave it at auto.")
        if config.task == "kto" and self.loss("kto") == "kto" and int(config.batch_size) < 2:
            raise ConfigError(f"batch_size {config.batch_size}: kto needs at least 2, since its KL estimate pairs each "
                              "completion with another prompt's in the same batch (or use preference.loss_type "
                              "apo_zero_unpaired).")

    def loss(self, task: str) -> str:
        return self.loss_type if self.loss_type != "auto" else {"dpo": "sigmoid", "kto": "kto"}.get(task, "")


# -- data ----------------------------------------------------------------------------------------------------
def load_items(config, split):
    """Preference examples of a split, shuffled with the seed and limited like records (kto: pairs unpaired)."""
    import random

    from data import catalog
    from training import tasks

    items = catalog.load_preferences(config.dataset, split)
    if tasks.entry(config.task).data == "pairs":
        unpaired = [i for i, r in enumerate(items, 1) if not r.paired]
        if unpaired:
            raise ConfigError(f"{config.dataset}: {config.task} trains on pairs (prompt, chosen, rejected); example "
                              f"{unpaired[0]} is a single labelled completion (KTO's form). Use task kto, or a file "
                              "of pairs.")
    else:
        items = [one for r in items for one in r.unpair()]
    if split == config.train_split:
        random.Random(config.seed).shuffle(items)
        if config.limit:
            items = items[: int(config.limit)]
    return items


def prepare(config, items, model_config) -> dict:
    check_writes_text(config, model_config)
    return {"causal_loss": False}


def check_writes_text(config, model_config) -> None:
    """A task that trains a language model refuses a base whose weights are a classification/regression head."""
    architectures = getattr(model_config, "architectures", None) or []
    heads = [a for a in architectures if a.endswith(("ForSequenceClassification", "ForTokenClassification"))]
    if heads:
        raise ConfigError(f"base_model {config.base_model} is a {heads[0]} (a head that predicts classes or numbers); "
                          f"{config.task} trains a model that writes text: start from a language model.")


def load_model(folder, config, dtype, extra, **kwargs):
    from training.tasks.sft import load_model as causal

    return causal(folder, config, dtype, extra, **kwargs)


def conversation(tokenizer, messages: list[dict]):
    """Messages as TRL reads them: chat messages with a chat template, else the plain text generation uses."""
    if tokenizer.chat_template:
        return messages
    return "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages)


def features(items, tokenizer, config, extra):
    """A datasets.Dataset in TRL's form (the trainer tokenises it with the chat template)."""
    from datasets import Dataset

    rows = []
    for record in items:
        prompt = conversation(tokenizer, record.prompt)
        if not tokenizer.chat_template:
            prompt += "Assistant:"
        if record.paired:
            rows.append({"prompt": prompt, "chosen": _answer(tokenizer, record.chosen),
                         "rejected": _answer(tokenizer, record.rejected)})
        else:
            rows.append({"prompt": prompt, "completion": _answer(tokenizer, record.completion),
                         "label": bool(record.label)})
    return Dataset.from_list(rows), []


def _answer(tokenizer, messages):
    return messages if tokenizer.chat_template else " " + "\n".join(m["content"] for m in messages)


def collator(tokenizer, config, extra):
    return None  # TRL's own preference collator


# -- the trainer -----------------------------------------------------------------------------------------------
def common_arguments(config, common: dict) -> dict:
    """What every TRL preference config takes beyond TrainingArguments."""
    return {**common, "max_length": int(config.max_length), "beta": float(config.preference.beta),
            "remove_unused_columns": False, "disable_dropout": True, "dataset_num_proc": None}


def drop_reference_adapter(trainer) -> None:
    """TRL copies a PEFT model's adapter into a frozen "ref" adapter when it is given a model that is already
    wrapped. A freshly initialised adapter is the identity, so the frozen base with the adapter switched off is the
    same reference without a copy: the copy goes, and TRL then reads the reference with the adapter disabled."""
    model = trainer.model
    config = getattr(model, "peft_config", None)
    if isinstance(config, dict) and "ref" in config:
        model.delete_adapter("ref")
        model.set_adapter("default")


# Trainer log keys (TRL's names) -> the typed train-event fields (jobs/event_schema.py)
LOG_FIELDS = {"rewards/chosen": "chosen_reward", "rewards/rejected": "rejected_reward", "rewards/margins": "margin",
              "rewards/accuracies": "accuracy", "logps/chosen": "chosen_logp", "logps/rejected": "rejected_logp",
              "kl": "kl", "nll_loss": "nll_loss", "log_odds_ratio": "log_odds_ratio"}


def log_fields(logs: dict) -> dict:
    return {name: float(logs[key]) for key, name in LOG_FIELDS.items()
            if isinstance(logs.get(key), (int, float)) and not isinstance(logs.get(key), bool)}
