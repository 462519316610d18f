"""KTO (TRL's KTOTrainer) on completions labelled desirable or not: desirable ones gain log-probability relative
to the reference, undesirable ones lose it. A file of pairs is unpaired (chosen desirable, rejected not).
Settings: preference.beta, preference.loss_type (kto, apo_zero_unpaired), the desirable/undesirable weights."""
from __future__ import annotations

from training.tasks.preference import (collator, common_arguments, drop_reference_adapter, features,  # noqa: F401
                                       load_items, load_model, log_fields, prepare)


def trainer_base():
    from trl import KTOTrainer

    return KTOTrainer


def arguments(config, common: dict):
    from trl import KTOConfig

    settings = config.preference
    return KTOConfig(**common_arguments(config, common), loss_type=settings.loss("kto"),
                     desirable_weight=float(settings.desirable_weight),
                     undesirable_weight=float(settings.undesirable_weight),
                     precompute_ref_log_probs=settings.reference == "precompute")


def trainer_kwargs(kwargs: dict, parts: dict, config) -> dict:
    kwargs.pop("compute_metrics", None)
    return {**kwargs, "ref_model": None}


def after_init(trainer) -> None:
    drop_reference_adapter(trainer)
