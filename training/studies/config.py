"""A study's config: which study, the base training config, and the study's own knobs. One flat dataclass that
round-trips through YAML; each study checks the fields it uses (STUDIES in training.studies.registry)."""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from training import methods
from training.config import ConfigError, TrainConfig, _build

STUDY_NAMES = ("lora-rank", "method-comparison", "data-efficiency", "data-selection")
SELECTIONS = ("none", "influence", "shapley")
# The one validation figure the Trainer computes itself rather than a registered metric: eval_loss.
TRAINER_OUTPUTS = {"loss": False}


def higher_is_better(metric: str) -> bool:
    """A study metric's direction, from the metric registry: `eval_<output>` for a validation metric (eval_rmse,
    eval_accuracy), else a benchmark metric's output (unparseable, questeval). Unknown names are refused, never
    guessed, so a report cannot rank its runs backwards."""
    from evaluation.metrics import all_metrics, output_direction

    output = metric.removeprefix("eval_")
    if output in TRAINER_OUTPUTS:
        return TRAINER_OUTPUTS[output]
    direction = output_direction(output)
    if direction is None:
        known = sorted({o for m in all_metrics().values() for o in m.outputs} | set(TRAINER_OUTPUTS))
        close = difflib.get_close_matches(output, known, n=1)
        raise ConfigError(f"metric {metric!r}: no registered metric reports {output!r}, so whether higher or lower "
                          "is better is unknown." + (f" Did you mean {close[0]!r}?" if close else ""))
    return direction


@dataclass
class StudyConfig:
    study: str
    train: dict  # the base training config (a TrainConfig mapping); `base: FILE.yaml` in YAML loads it from a file
    metric: str = "eval_loss"  # the primary metric: a validation metric (eval_*) or a benchmark metric
    # lora-rank (the Phi-2/MedQuAD study)
    ranks: list = field(default_factory=lambda: [1, 6, 14, 64, "intrinsic"])
    alpha_k: float = 8.0  # alpha = alpha_k × rank
    intrinsic: str = "max"  # the TwoNN profile's max or mean over layers becomes the "intrinsic" rank
    intrinsic_examples: int = 200  # training examples whose hidden states the TwoNN estimate reads
    benchmark: str | None = None  # generation scores on run:<id> (e.g. medquad-questeval: QuestEval-style and F1)
    benchmark_limit: int = 20
    judge: str | None = None  # the QuestEval judge (default: the benchmark's)
    # method-comparison (the regression study): rows are methods, columns data-selection strategies
    methods: list = field(default_factory=lambda: methods.names(needs_cuda=False))  # those that run anywhere
    selections: list = field(default_factory=lambda: ["none", "influence", "shapley"])
    # data-selection: candidates from a secondary set, scored against the validation set
    pool: str | None = None  # the secondary dataset whose examples may be added to train
    select_rule: str = "positive"  # positive | top-k
    select_k: int | None = None
    lissa_scale: float = 100.0  # LiSSA: must exceed the Hessian's largest eigenvalue, or the recursion diverges
    lissa_damping: float = 0.01
    lissa_depth: int = 100
    shapley_resamples: int = 5
    shapley_permutations: int = 50
    # data-efficiency (the efficient fine-tuning study)
    sizes: list = field(default_factory=lambda: [50, 100, 200, 400, 800])
    epsilon: float = 0.02  # saturation: the smallest size within epsilon (relative) of the best score

    def check(self) -> TrainConfig:
        from training.studies.registry import STUDIES

        if self.study not in STUDIES:
            close = difflib.get_close_matches(str(self.study), list(STUDIES), n=1)
            raise ConfigError(f"study {self.study!r} is not one of {', '.join(STUDIES)}."
                              + (f" Did you mean {close[0]!r}?" if close else ""))
        base = self.base_config()
        base.check()
        base.method.check()
        if base.max_steps is None and self.study != "data-efficiency":
            raise ConfigError("train.max_steps is not set: a study gives every run the same budget of steps.")
        if self.metric.startswith("eval_"):
            if not (base.eval_split or base.eval_dataset):
                raise ConfigError(f"metric {self.metric}: the training config needs eval_split or eval_dataset.")
            every = base.eval_every or base.max_steps
            if base.max_steps and int(base.max_steps) < int(every):
                raise ConfigError(f"The budget is smaller than one evaluation: {base.max_steps} step(s) per run, "
                                  f"evaluated every {every} (eval_every).")
        elif not self.benchmark:
            raise ConfigError(f"metric {self.metric!r} is not a validation metric (eval_*): name the benchmark that "
                              "scores it (benchmark).")
        higher_is_better(self.metric)  # an unknown direction is refused here, before any run
        STUDIES[self.study].check(self, base)
        return base

    def base_config(self) -> TrainConfig:
        return TrainConfig.from_dict(dict(self.train or {}), "train")

    def lower_is_better(self) -> bool:
        return not higher_is_better(self.metric)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, spec: dict, where: str = "study config", folder: Path | None = None) -> "StudyConfig":
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a mapping of fields")
        spec = dict(spec)
        if "base" in spec:
            base = Path(spec.pop("base"))
            if not base.is_absolute() and folder is not None and not base.exists():
                base = folder / base
            spec["train"] = {**TrainConfig.from_yaml(base).to_dict(), **(spec.pop("train", None) or {})}
        for name in ("study", "train"):
            if name not in spec:
                raise ConfigError(f"{where}: the field {name!r} is missing")
        try:
            return _build(cls, spec, where)
        except ConfigError as exc:
            message = str(exc)
            raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from None

    @classmethod
    def from_yaml(cls, path) -> "StudyConfig":
        path = Path(path)
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the study config: {exc}")
        return cls.from_dict(spec, str(path), path.parent)
