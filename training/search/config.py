"""The search config: a base training config, a search space over any of its fields, a sampler, a pruner and a
protocol. A dataclass that round-trips through YAML like TrainConfig, checked before anything starts."""
from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from training.config import ConfigError, MethodConfig, TrainConfig, _build

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("successive_halving", "hyperband", "median", "patience", "none")
PROTOCOLS = ("two-phase", "early-score", "single")
PARAM_TYPES = ("float", "int", "categorical")
DIRECTIONS = ("minimize", "maximize")


@dataclass
class Param:
    """One searched field: `learning_rate`, `batch_size`, `method.rank` ... (any TrainConfig or MethodConfig field)."""

    name: str
    type: str = "float"
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: list | None = None

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
    train: dict  # the base training config (a TrainConfig mapping); `base: FILE.yaml` in YAML loads it from a file
    space: dict = field(default_factory=dict)  # field name -> Param mapping
    objective: str = "eval_loss"  # an eval metric the trials report (eval_loss, eval_accuracy, eval_rmse ...)
    direction: str = "minimize"
    protocol: str = "two-phase"  # two-phase: short pruned trials, then full runs of the top_k; early-score; single
    sampler: str = "tpe"
    pruner: str = "successive_halving"
    min_resource: int = 1  # successive halving / hyperband: evaluations before a trial can be pruned
    reduction_factor: int = 3
    patience: int = 2  # patience pruner: evaluations without improvement
    n_startup_trials: int = 3  # median pruner: trials that are never pruned
    trials: int = 20  # phase 1 trials (in all, across workers)
    trial_steps: int = 20  # phase 1: steps of a short trial (early-score: the full steps of every trial)
    eval_every: int = 2  # steps between the evaluations a trial reports
    top_k: int = 3  # phase 2 (or early-score): full-length runs of the best k
    full_steps: int | None = None  # phase 2 length; None: the base config's max_steps
    early_fraction: float = 0.2  # early-score: the fraction of training at which a trial is scored
    verify_all: bool = False  # early-score: train every trial to the end, to measure how well early scores predict
    storage: str | None = None  # None: an Optuna journal file in the run directory; or an RDB URL (postgresql://...)
    study_name: str | None = None  # None: the run id
    seed: int = 0
    timeout_s: float | None = None  # phase 1 stops starting trials after this long

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
        """Everything that can be known before a trial starts; returns the base TrainConfig."""
        for name, value, allowed in (("sampler", self.sampler, SAMPLERS), ("pruner", self.pruner, PRUNERS),
                                     ("protocol", self.protocol, PROTOCOLS), ("direction", self.direction, DIRECTIONS)):
            if value not in allowed:
                _unknown(name, value, allowed)
        if not self.space:
            raise ConfigError("space is empty: name at least one field to search, e.g. learning_rate.")
        base = self.base_config()
        for param in self.space.values():
            _check_field(param.name)
            param.check()
        for name in ("trials", "trial_steps", "eval_every", "top_k", "min_resource", "reduction_factor", "patience"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1 (got {getattr(self, name)}).")
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
        if not 0 < float(self.early_fraction) <= 1:
            raise ConfigError(f"early_fraction must be in (0, 1] (got {self.early_fraction}).")
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
