"""DPO (TRL's DPOTrainer) on pairs: the chosen answer's log-probability ratio to the reference rises over the
rejected one's. Settings: preference.beta, preference.loss_type (sigmoid, ipo, hinge ...), preference.reference."""
from __future__ import annotations

from training.tasks.preference import (collator, common_arguments, drop_reference_adapter, features,  # noqa: F401
                                       load_items, load_model, log_fields, prepare)


def trainer_base():
    from trl import DPOTrainer

    return DPOTrainer


def arguments(config, common: dict):
    from trl import DPOConfig

    settings = config.preference
    return DPOConfig(**common_arguments(config, common), loss_type=[settings.loss("dpo")],
                     label_smoothing=float(settings.label_smoothing),
                     precompute_ref_log_probs=settings.reference == "precompute")


def trainer_kwargs(kwargs: dict, parts: dict, config) -> dict:
    kwargs.pop("compute_metrics", None)
    return {**kwargs, "ref_model": None}


def after_init(trainer) -> None:
    drop_reference_adapter(trainer)
