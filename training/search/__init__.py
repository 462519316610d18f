"""Hyperparameter search with Optuna: config (space, sampler, pruner, protocol), engine (phases), report."""
