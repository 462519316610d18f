"""Training tasks, one module each. A task module provides:

  load_items(config, split)                         records (or texts) of one split
  prepare(config, train_items, model_config)        `extra`: what the rest needs (class names, objective) and
                                                    causal_loss (True: logits are computed only where labels are)
  load_model(folder, config, dtype, extra, **kw)    the model with the right head
  features(items, tokenizer, config, extra)         tokenised examples (list of dicts) and notes
  collator(tokenizer, config, extra)                batches them
  compute_metrics (optional)                        extra evaluation metrics from predictions
"""
from __future__ import annotations

import importlib
import random

from training.config import ConfigError, TrainConfig

TASKS = {
    "sft": "supervised fine-tuning on chat records (loss on assistant tokens by default)",
    "classification": "a sequence-classification head, e.g. DDI as two classes",
    "regression": "a regression head, e.g. solubility from SMILES (RMSE)",
    "pretrain": "domain-adaptive pretraining on raw text or SMILES (causal LM, or masked LM for encoders)",
}


def get(name: str):
    if name not in TASKS:
        raise ConfigError(f"Unknown task {name!r}; known: {', '.join(TASKS)}")
    return importlib.import_module(f"training.tasks.{name}")


def records(config: TrainConfig, split: str, *, shuffle: bool) -> list:
    """Valid records of a split (DataError names file and line otherwise), shuffled with the seed, limited."""
    from data import catalog

    items = catalog.load(config.dataset, split)
    if shuffle:
        random.Random(config.seed).shuffle(items)
        if config.limit:
            items = items[: int(config.limit)]
    return items


def has_split(config: TrainConfig, split: str) -> bool:
    from data import catalog

    try:
        return split in catalog.splits(config.dataset)
    except Exception:  # noqa: BLE001 - an unreadable set fails later with its own message
        return False


def input_text(record, field: str) -> str:
    """What a classification/regression head reads: the last user turn, or a meta field such as smiles."""
    if field == "prompt":
        users = [m["content"] for m in record.messages if m["role"] == "user"]
        return users[-1] if users else ""
    value = record.meta.get(field)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        raise ConfigError(f"input_field {field!r}: record {record.meta.get('id', '?')} has no meta field {field!r}.")
    return str(value)
