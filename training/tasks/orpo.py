"""ORPO (TRL's ORPOTrainer, trl.experimental) on pairs: the chosen answer's NLL plus beta × the log odds ratio of
chosen over rejected, in one loss and without a reference model. Settings: preference.beta (λ)."""
from __future__ import annotations

from training.tasks.preference import (collator, features, load_items, load_model, log_fields,  # noqa: F401
                                       prepare)


def trainer_base():
    import os
    import warnings

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from trl.experimental.orpo import ORPOTrainer

    return ORPOTrainer


def arguments(config, common: dict):
    trainer_base()
    from trl.experimental.orpo import ORPOConfig

    return ORPOConfig(**{**common, "max_length": int(config.max_length), "beta": float(config.preference.beta),
                         "disable_dropout": True})


def trainer_kwargs(kwargs: dict, parts: dict, config) -> dict:
    kwargs.pop("compute_metrics", None)
    return kwargs
