"""The search config: a base training config, a search space over any of its fields, a sampler, a pruner and a
protocol. A dataclass that round-trips through YAML like TrainConfig, checked before anything starts. Each field
carries its label (as the Studies page shows it), help, limits and choices (config_loader.describe): the page's
inputs, defaults and number checks and check()'s single-field messages come from there."""
from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from config_loader import check_fields, describe
from training.config import ConfigError, MethodConfig, TrainConfig, _build

# The registries of names: the page's dropdowns, the checks and the engine read these.
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("successive_halving", "hyperband", "median", "patience", "none")
PROTOCOLS = ("two-phase", "early-score", "single")
PARAM_TYPES = ("float", "int", "categorical")
DIRECTIONS = ("minimize", "maximize")


@dataclass
class Param:
    """One searched field: `learning_rate`, `batch_size`, `method.rank` ... (any TrainConfig or MethodConfig field)."""

    name: str = field(metadata=describe("Parameter", "the searched field: learning_rate, method.rank ..."))
    type: str = field(default="float", metadata=describe(
        "Type", "float or int (a range from low to high), or categorical (a list of choices)", choices=PARAM_TYPES))
    low: float | None = field(default=None, metadata=describe("Low", "the range's lower end (float, int)"))
    high: float | None = field(default=None, metadata=describe("High", "the range's upper end (float, int)"))
    step: float | None = field(default=None, metadata=describe(
        "Step", "the spacing of the values (none: continuous floats, every whole number for int)"))
    log: bool = field(default=False, metadata=describe("Log scale", "sample the range on a log scale (low > 0)"))
    choices: list | None = field(default=None, metadata=describe("Choices", "a categorical parameter's values"))

    def check(self):
        where = f"space.{self.name}"
        if self.type not in PARAM_TYPES:
            _unknown(f"{where}: type", self.type, PARAM_TYPES)
        if self.type == "categorical":
            if not self.choices:
                raise ConfigError(f"{where}: the choices are empty; list at least one value.")
            return
        if self.low is None or self.high is None:
            raise ConfigError(f"{where}: a {self.type} parameter needs low and high.")
        if float(self.low) > float(self.high) or (float(self.low) == float(self.high) and not self.step):
            raise ConfigError(f"{where}: the range is empty (low {self.low} ≥ high {self.high}).")
        if self.log and float(self.low) <= 0:
            raise ConfigError(f"{where}: a log scale needs low > 0 (got low {self.low}); use log: false or a "
                              "positive low.")
        if self.log and self.step:
            raise ConfigError(f"{where}: step and log cannot be combined (Optuna samples a log scale continuously).")
        if self.type == "int" and (float(self.low) != int(self.low) or float(self.high) != int(self.high)):
            raise ConfigError(f"{where}: an int parameter needs whole low and high (got {self.low}, {self.high}).")

    def suggest(self, trial):
        """The value Optuna picks for this trial."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)

    def grid(self) -> list:
        """The grid sampler's values: the choices, or low..high by step (a float range needs a step)."""
        if self.type == "categorical":
            return list(self.choices)
        if not self.step:
            if self.type == "int":
                return list(range(int(self.low), int(self.high) + 1))
            raise ConfigError(f"space.{self.name}: the grid sampler needs a step for a float range (or choices).")
        count = int(math.floor((float(self.high) - float(self.low)) / float(self.step) + 1e-9)) + 1
        values = [float(self.low) + i * float(self.step) for i in range(count)]
        return [int(v) for v in values] if self.type == "int" else [round(v, 12) for v in values]


@dataclass
class SearchConfig:
    train: dict = field(metadata=describe(
        "Base training config", "a TrainConfig mapping; `base: FILE.yaml` in YAML loads it from a file"))
    space: dict = field(default_factory=dict, metadata=describe(
        "Search space (YAML)", "field name → {type, low, high, step, log} or a list of choices", short="Search space"))
    objective: str = field(default="eval_loss", metadata=describe(
        "Objective (a validation metric)", "an eval metric the trials report (eval_loss, eval_accuracy, eval_rmse ...)",
        short="Objective"))
    direction: str = field(default="minimize", metadata=describe(
        "Direction", "whether the objective is minimized or maximized", choices=DIRECTIONS))
    protocol: str = field(default="two-phase", metadata=describe(
        "Protocol", "two-phase: short pruned trials, then full runs of the top_k; early-score; single",
        choices=PROTOCOLS))
    sampler: str = field(default="tpe", metadata=describe("Sampler", "how Optuna picks a trial's values",
                                                          choices=SAMPLERS))
    pruner: str = field(default="successive_halving", metadata=describe(
        "Pruner", "how Optuna stops unpromising trials early", choices=PRUNERS))
    min_resource: int = field(default=1, metadata=describe(
        "Min resource (evaluations before pruning)",
        "successive halving / hyperband: evaluations before a trial can be pruned", short="Min resource", minimum=1))
    reduction_factor: int = field(default=3, metadata=describe(
        "Reduction factor", "successive halving / hyperband: the share of trials promoted is 1 / this (Optuna: ≥ 2)",
        minimum=2))
    patience: int = field(default=2, metadata=describe(
        "Patience (patience pruner)", "patience pruner: evaluations without improvement", short="Patience",
        minimum=1))
    n_startup_trials: int = field(default=3, metadata=describe(
        "Startup trials (median pruner)", "median pruner: trials that are never pruned", short="Startup trials"))
    trials: int = field(default=20, metadata=describe(
        "Trials (phase 1)", "phase 1 trials (in all, across workers)", short="Trials", minimum=1))
    trial_steps: int = field(default=20, metadata=describe(
        "Steps per trial", "phase 1: steps of a short trial (early-score: the full steps of every trial)", minimum=1))
    eval_every: int = field(default=2, metadata=describe(
        "Evaluate every N steps", "steps between the evaluations a trial reports", short="Evaluate every", minimum=1))
    top_k: int = field(default=3, metadata=describe(
        "Full-length runs of the best (top k)", "phase 2 (or early-score): full-length runs of the best k",
        short="Full-length runs of the best", minimum=1))
    full_steps: int | None = field(default=None, metadata=describe(
        "Full-length steps", "phase 2 length; none: the base config's max_steps"))
    early_fraction: float = field(default=0.2, metadata=describe(
        "Early fraction (early-score)", "early-score: the fraction of training at which a trial is scored",
        short="Early fraction", exclusive_minimum=0, maximum=1))
    verify_all: bool = field(default=False, metadata=describe(
        "Early-score: train every trial to the end",
        "early-score: train every trial to the end, to measure how well early scores predict", short="Verify all"))
    storage: str | None = field(default=None, metadata=describe(
        "Storage (empty = a journal file in the run folder; or an RDB URL)",
        "none: an Optuna journal file in the run directory; or an RDB URL (postgresql://...)", short="Storage"))
    study_name: str | None = field(default=None, metadata=describe("Study name", "Optuna's study name; none: the run id"))
    seed: int = field(default=0, metadata=describe("Seed", "the sampler's seed"))
    timeout_s: float | None = field(default=None, metadata=describe(
        "Timeout (s)", "phase 1 stops starting trials after this long", short="Timeout"))

    def __post_init__(self):
        params = {}
        for name, spec in (self.space or {}).items():
            if isinstance(spec, Param):
                params[name] = spec
                continue
            if isinstance(spec, list):  # shorthand: `batch_size: [4, 8]`
                spec = {"type": "categorical", "choices": spec}
            if not isinstance(spec, dict):
                raise ConfigError(f"space.{name}: expected a mapping such as {{type: float, low: 1e-5, high: 1e-3}}.")
            params[name] = _build(Param, {"name": name, **spec}, f"space.{name}")
        self.space = params

    # -- checks ----------------------------------------------------------------------------------------------
    def check(self) -> TrainConfig:
        """Everything that can be known before a trial starts; returns the base TrainConfig. The choices and limits
        of single fields come from their metadata (sampler, trials, early_fraction ...); the rules across fields
        follow."""
        check_fields(self)
        if not self.space:
            raise ConfigError("space is empty: name at least one field to search, e.g. learning_rate.")
        base = self.base_config()
        if base.report_to:
            raise ConfigError(f"train.report_to {base.report_to}: the runs of a search or study are not logged to "
                              "experiment trackers (each would be a run of its own there); its report.md and the "
                              "leaderboard hold the results. Remove report_to from the base config.")
        for param in self.space.values():
            _check_field(param.name)
            param.check()
        if not (base.eval_split or base.eval_dataset):
            raise ConfigError("The trials report a validation metric: the training config needs eval_split or "
                              "eval_dataset.")
        if not self.objective.startswith("eval_"):
            raise ConfigError(f"objective {self.objective!r}: name a validation metric such as eval_loss or "
                              "eval_accuracy.")
        steps = self.scored_steps()
        if steps < int(self.eval_every):
            raise ConfigError(f"The budget is smaller than one evaluation: a trial is scored after {steps} step(s) "
                              f"but evaluates every {self.eval_every} (eval_every). Raise trial_steps or lower "
                              "eval_every.")
        if self.sampler == "grid":
            self.grid()
        return base

    def base_config(self) -> TrainConfig:
        spec = dict(self.train or {})
        return TrainConfig.from_dict(spec, "train")

    def full_length(self) -> int:
        steps = self.full_steps or self.base_config().max_steps
        if not steps:
            raise ConfigError("full_steps is not set and the training config has no max_steps: set one of them, so "
                              "every trial has the same budget.")
        return int(steps)

    def scored_steps(self) -> int:
        """Steps a phase-1 trial trains before its score counts."""
        if self.protocol == "early-score":
            return max(1, int(round(self.full_length() * float(self.early_fraction))))
        return int(self.trial_steps)

    def grid(self) -> dict:
        return {name: param.grid() for name, param in self.space.items()}

    def trial_config(self, params: dict, *, max_steps: int, eval_every: int) -> TrainConfig:
        """The base config with a trial's values put in (method.rank → config.method.rank)."""
        spec = yaml.safe_load(yaml.safe_dump(self.train))  # a deep copy
        spec.setdefault("method", {})
        for name, value in params.items():
            if name.startswith("method."):
                spec["method"][name.removeprefix("method.")] = value
            else:
                spec[name] = value
        spec.update(max_steps=int(max_steps), eval_every=int(eval_every), tensorboard=False)
        spec.pop("evaluate", None)
        spec.pop("eval_benchmarks", None)
        config = TrainConfig.from_dict(spec, "trial")
        config.check()
        config.method.check()
        return config

    # -- YAML ------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["space"] = {name: {k: v for k, v in dataclasses.asdict(p).items() if k != "name" and v not in (None, False)}
                        for name, p in self.space.items()}
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, spec: dict, where: str = "search config", folder: Path | None = None) -> "SearchConfig":
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a mapping of fields")
        spec = dict(spec)
        if "base" in spec:  # base: a training config file, relative to the search config
            base = Path(spec.pop("base"))
            if not base.is_absolute() and folder is not None and not base.exists():
                base = folder / base
            overrides = spec.pop("train", None) or {}
            spec["train"] = {**TrainConfig.from_yaml(base).to_dict(), **overrides}
        if "train" not in spec:
            raise ConfigError(f"{where}: give the training config as `base: FILE.yaml` or a `train:` mapping.")
        try:
            return _build(cls, spec, where)
        except ConfigError as exc:
            message = str(exc)
            raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from None

    @classmethod
    def from_yaml(cls, path) -> "SearchConfig":
        path = Path(path)
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the search config: {exc}")
        return cls.from_dict(spec, str(path), path.parent)


def _check_field(name: str):
    """A searched name must be a training-config field (or method.<field>)."""
    if name.startswith("method."):
        names, short = [f.name for f in dataclasses.fields(MethodConfig)], name.removeprefix("method.")
        prefix = "method."
    else:
        names, short, prefix = [f.name for f in dataclasses.fields(TrainConfig)], name, ""
    if short in ("name",) and prefix:
        return
    if short not in names:
        candidates = [prefix + n for n in names] + ([] if prefix else
                                                    ["method." + f.name for f in dataclasses.fields(MethodConfig)])
        close = difflib.get_close_matches(name, candidates, n=1)
        raise ConfigError(f"space: unknown parameter {name!r}: not a field of the training config."
                          + (f" Did you mean {close[0]!r}?" if close else ""))


def _unknown(name: str, value, allowed):
    close = difflib.get_close_matches(str(value), allowed, n=1)
    raise ConfigError(f"{name} {value!r} is not one of {', '.join(allowed)}." + (f" Did you mean {close[0]!r}?" if close else ""))
