"""Training tasks, one module each, and their registry (TASKS: the one list of task names). A task module provides:

  load_items(config, split)                         records (or texts, or preference examples) of one split
  prepare(config, train_items, model_config)        `extra`: what the rest needs (class names, objective) and
                                                    causal_loss (True: logits are computed only where labels are)
  load_model(folder, config, dtype, extra, **kw)    the model with the right head
  features(items, tokenizer, config, extra)         tokenised examples (list of dicts, or a datasets.Dataset) and notes
  collator(tokenizer, config, extra)                batches them
  compute_metrics (optional)                        extra evaluation metrics from predictions

A task trained by another Trainer (TRL's DPO, KTO, ORPO and GRPO trainers) also provides:

  trainer_base()                                    the transformers.Trainer subclass the recipe extends
  arguments(config, common)                         its TrainingArguments subclass from the recipe's common ones
  trainer_kwargs(kwargs, parts, config)             the constructor's arguments from the recipe's (rewards ...)
  after_init(trainer) (optional)                    what follows the constructor (the reference adapter goes)
  log_fields(logs)                                  the typed train-event fields (jobs.event_schema) of one log
  answers_per_prompt(config) (optional)             examples per item in an epoch (GRPO: num_generations)

A task's own hyperparameters are a `Settings` dataclass in its module (fields with config_loader.describe; the
module imports nothing heavy at the top), named in its entry with the config section that holds them
(TrainConfig.preference, TrainConfig.grpo): the YAML (`grpo.num_generations`), the checks and the form read them.
"""
from __future__ import annotations

import importlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from errors import ConfigError

if TYPE_CHECKING:
    from training.config import TrainConfig


@dataclass(frozen=True)
class Task:
    """A task's capabilities: what the checks, dropdowns, studies and exports read instead of its name."""

    description: str
    module: str = ""  # training.tasks.<module> (default: the task's name)
    data: str = "chat"  # chat records | "pairs" (prompt/chosen/rejected) | "preferences" (pairs or KTO's labelled)
    writes_text: bool = True  # the result is a causal LM: it chats, is evaluated, scores eval_benchmarks
    settings: str | None = None  # "module:Class" in training.tasks: its own config fields (a dataclass) ...
    section: str | None = None  # ... in this TrainConfig field
    trl: bool = False  # trained by a TRL trainer (trainer_base, arguments, trainer_kwargs, log_fields)

    @property
    def reads_preferences(self) -> bool:
        return self.data in ("pairs", "preferences")

    @property
    def settings_class(self) -> type | None:
        """The settings dataclass (its module imports nothing heavy, so training.config can read it)."""
        if not self.settings:
            return None
        module, _, name = self.settings.partition(":")
        return getattr(importlib.import_module(f"training.tasks.{module}"), name)


TASKS: dict[str, Task] = {  # the one list of task names
    "sft": Task("supervised fine-tuning on chat records (loss on assistant tokens by default)"),
    "classification": Task("a sequence-classification head, e.g. DDI as two classes", writes_text=False),
    "regression": Task("a regression head, e.g. solubility from SMILES (RMSE)", writes_text=False),
    "pretrain": Task("domain-adaptive pretraining on raw text or SMILES (causal LM, or masked LM for encoders)"),
    "dpo": Task("direct preference optimisation on chosen/rejected pairs (TRL), against a frozen reference",
                data="pairs", settings="preference:Settings", section="preference", trl=True),
    "kto": Task("Kahneman-Tversky optimisation on completions labelled desirable or not (pairs are unpaired; TRL)",
                data="preferences", settings="preference:Settings", section="preference", trl=True),
    "orpo": Task("odds-ratio preference optimisation on pairs: SFT and preference in one loss, no reference (TRL)",
                 data="pairs", settings="preference:Settings", section="preference", trl=True),
    "grpo": Task("group relative policy optimisation: the model writes answers, rewards from the metric registry "
                 "score them (TRL)", settings="grpo:Settings", section="grpo", trl=True),
}


def names(**capabilities) -> list[str]:
    """Task names with the given capabilities, e.g. names(writes_text=True) or names(trl=True)."""
    return [n for n, t in TASKS.items() if all(getattr(t, k) == v for k, v in capabilities.items())]


def entry(name: str) -> Task:
    if name not in TASKS:
        import difflib

        close = difflib.get_close_matches(name, TASKS, n=1)
        raise ConfigError(f"Unknown task {name!r}." + (f" Did you mean {close[0]!r}?" if close else "")
                          + f" Known: {', '.join(TASKS)}")
    return TASKS[name]


def get(name: str):
    return importlib.import_module(f"training.tasks.{entry(name).module or name}")


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
