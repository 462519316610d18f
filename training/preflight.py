"""The checks a training config gets before its job starts (the Fine-tune tab's Check, `python -m training
check`): the data validates, the method can run on this machine, the targets match the model."""
from __future__ import annotations

from pathlib import Path


def check(config) -> list[str]:
    """What can be known before a job starts: the data validates, the method can run here, targets match.
    Builds the model skeleton on the meta device (no weights), so it takes about a second. The data is checked
    before torch and transformers are imported, so a bad file is reported in a moment."""
    import settings
    from models.run import base_folder
    from training import methods, tasks

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
    auto = AutoModelForCausalLM if extra.get("causal_loss") else AutoModelForSequenceClassification
    if config.task == "pretrain" and not extra.get("causal_loss"):
        from transformers import AutoModelForMaskedLM as auto
    with torch.device("meta"):
        skeleton = auto.from_config(model_config)
    if methods.get(config.method.name).picks_targets or config.method.targets != "all-linear":
        targets = methods.resolve_targets(skeleton, config.method)
    else:
        targets = ["(peft defaults)"]
    methods.selected_layers(skeleton, config.method)
    return [f"{len(items)} training examples from {config.dataset}", f"targets: {', '.join(targets)}"]
