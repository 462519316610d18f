"""The checks a training config gets before its job starts (the Fine-tune tab's Check, `python -m training
check`): the data validates, the method can run on this machine, the targets match the model."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(eq=False)
class Report:
    """What the check found, as values a page reads (`examples`) and as the lines the CLI prints."""

    dataset: str
    examples: int  # training examples, after the limit
    targets: list[str] | None  # the modules the method adapts; None: the method's own (peft's) defaults
    layers: list[int] | None = None  # the transformer blocks adapted (method.last_n_layers); None: all

    @property
    def lines(self) -> list[str]:
        return [f"{self.examples} training examples from {self.dataset}",
                f"targets: {', '.join(self.targets) if self.targets is not None else '(peft defaults)'}"]

    def __iter__(self):
        return iter(self.lines)

    def __eq__(self, other):
        """Equal to a report with the same findings, or to the list of its lines (what the CLI prints)."""
        if isinstance(other, Report):
            return (self.dataset, self.examples, self.targets, self.layers) == \
                (other.dataset, other.examples, other.targets, other.layers)
        if isinstance(other, list):
            return self.lines == other
        return NotImplemented


def check(config) -> Report:
    """What can be known before a job starts: the data validates, the method can run here, targets match.
    Builds the model skeleton on the meta device (no weights), so it takes about a second. The data is checked
    before torch and transformers are imported, so a bad file is reported in a moment."""
    import settings
    from models.run import base_folder
    from training import methods, tasks

    from training import tracking

    if tracking.problems(config.report_to):
        from training.config import ConfigError

        raise ConfigError("; ".join(tracking.problems(config.report_to)) + ".")
    method = methods.get(config.method.name)
    method.preflight(config.method)
    folder = base_folder(config.base_model)
    if not (Path(folder) / "config.json").is_file():
        from training.config import ConfigError

        raise ConfigError(f"base_model {config.base_model}: {folder} is not a transformers model folder.")
    task = tasks.get(config.task)
    items = task.load_items(config, config.train_split)

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    model_config = AutoConfig.from_pretrained(str(folder), trust_remote_code=settings.trust_remote_code())
    extra = task.prepare(config, items, model_config)
    causal = extra.get("causal_loss") or tasks.entry(config.task).trl  # TRL's tasks train causal LMs
    auto = AutoModelForCausalLM if causal else AutoModelForSequenceClassification
    if config.task == "pretrain" and not extra.get("causal_loss"):
        from transformers import AutoModelForMaskedLM as auto
    with torch.device("meta"):
        skeleton = auto.from_config(model_config)
    targets = None
    if methods.get(config.method.name).picks_targets or config.method.targets != "all-linear":
        targets = methods.resolve_targets(skeleton, config.method)
    layers = methods.selected_layers(skeleton, config.method)
    return Report(dataset=str(config.dataset), examples=len(items), targets=targets, layers=layers)
