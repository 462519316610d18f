"""A study's config: which study, the base training config, and the study's own knobs. One flat dataclass that
round-trips through YAML; each field carries its label (as the Studies page shows it), help, limits and choices
(config_loader.describe). check() checks every field every study reads, and the knobs of the study named (a study
lists those it reads in training.studies.registry), against that metadata; each study's own check adds its rules
across fields."""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from config_loader import check_fields, describe
from training import methods
from training.config import ConfigError, TrainConfig, _build


class RegisteredStudies:
    """The names of the studies in training.studies.registry, read when asked (the registry's modules import this
    one, so the names cannot be read when it loads)."""

    def _names(self) -> list[str]:
        from training.studies.registry import STUDIES

        return list(STUDIES)

    def __iter__(self):
        return iter(self._names())

    def __contains__(self, name) -> bool:
        return name in self._names()

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(tuple(self._names()))


STUDY_NAMES = RegisteredStudies()
SELECTIONS = ("none", "influence", "shapley")
SELECT_RULES = ("positive", "top-k")
INTRINSIC_PROFILES = ("max", "mean")  # the TwoNN profile's max or mean over layers is the "intrinsic" rank
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
    study: str = field(metadata=describe("Study", "which study (training.studies.registry)",
                                         choices=STUDY_NAMES))
    train: dict = field(metadata=describe(
        "Base training config", "a TrainConfig mapping; `base: FILE.yaml` in YAML loads it from a file"))
    metric: str = field(default="eval_loss", metadata=describe(
        "Primary metric", "a validation metric (eval_*) or a benchmark metric; the metric registry says its direction"))
    # lora-rank (the Phi-2/MedQuAD study)
    ranks: list = field(default_factory=lambda: [1, 6, 14, 64, "intrinsic"], metadata=describe(
        "Ranks (LoRA-rank study)", "LoRA ranks from 1 to 4096, and intrinsic: the TwoNN estimate", short="Ranks"))
    alpha_k: float = field(default=8.0, metadata=describe(
        "Alpha = k × rank", "LoRA alpha = alpha_k × rank", short="Alpha multiplier", exclusive_minimum=0))
    intrinsic: str = field(default="max", metadata=describe(
        "Intrinsic rank from", "the TwoNN profile's max or mean over layers becomes the \"intrinsic\" rank",
        choices=INTRINSIC_PROFILES))
    intrinsic_examples: int = field(default=200, metadata=describe(
        "Intrinsic-dimension examples",
        "training examples whose hidden states the TwoNN estimate reads (it needs distinct points)",
        short="Intrinsic examples", minimum=3))
    benchmark: str | None = field(default=None, metadata=describe(
        "Benchmark that scores each run (optional)",
        "generation scores on run:<id> (e.g. medquad-questeval: QuestEval-style and F1)", short="Benchmark"))
    benchmark_limit: int = field(default=20, metadata=describe(
        "Benchmark limit", "the first N items of the benchmark", minimum=1))
    judge: str | None = field(default=None, metadata=describe(
        "Judge", "the QuestEval judge (default: the benchmark's)"))
    # method-comparison (the regression study): rows are methods, columns data-selection strategies
    methods: list = field(default_factory=lambda: methods.names(needs_cuda=False), metadata=describe(  # run anywhere
        "Methods (method comparison)", "the rows: fine-tuning methods (training.methods)", short="Methods"))
    selections: list = field(default_factory=lambda: list(SELECTIONS), metadata=describe(
        "Data selections (method comparison)", "the columns: none, influence, shapley", short="Data selections"))
    # data-selection: candidates from a secondary set, scored against the validation set
    pool: str | None = field(default=None, metadata=describe(
        "Candidate pool (data selection: a set or file)",
        "the secondary dataset whose examples may be added to train", short="Candidate pool"))
    select_rule: str = field(default="positive", metadata=describe(
        "Select", "positive: every example that helps; top-k: the best select_k", short="Select rule",
        choices=SELECT_RULES))
    select_k: int | None = field(default=None, metadata=describe(
        "Top k (0 = all positive)", "top-k: how many pool examples are added", short="Select top k", minimum=1))
    lissa_scale: float = field(default=100.0, metadata=describe(
        "LiSSA scale", "must exceed the Hessian's largest eigenvalue, or the recursion diverges",
        exclusive_minimum=0))
    lissa_damping: float = field(default=0.01, metadata=describe(
        "LiSSA damping", "added to the Hessian's diagonal", minimum=0, exclusive_maximum=1))
    lissa_depth: int = field(default=100, metadata=describe(
        "LiSSA recursion depth", "steps of the LiSSA recursion", minimum=1))
    shapley_resamples: int = field(default=5, metadata=describe(
        "Shapley resamples", "TS-DShapley: subsampled training sets"))
    shapley_permutations: int = field(default=50, metadata=describe(
        "Shapley permutations", "TS-DShapley: Monte-Carlo permutations per resample"))
    # task-comparison: one arm per training task (sft, dpo, grpo …), the base config with a few fields changed
    arms: list = field(default_factory=list, metadata=describe(
        "Arms (task comparison)", "each {name, task, dataset, preference: {...} or grpo: {...}}: the base training "
        "config with these fields changed", short="Arms"))
    # data-efficiency (the efficient fine-tuning study)
    sizes: list = field(default_factory=lambda: [50, 100, 200, 400, 800], metadata=describe(
        "Training sizes (data efficiency)", "training-set sizes, each a run on the first N examples",
        short="Training sizes"))
    epsilon: float = field(default=0.02, metadata=describe(
        "Saturation epsilon",
        "saturation: the smallest size within epsilon (a relative distance) of the best score", minimum=0,
        exclusive_maximum=1))

    def check(self) -> TrainConfig:
        """The study's name, the choices and limits of the fields every study reads and of this study's own knobs
        (their metadata), the base training config and the budget, then the study's own rules across fields."""
        from training.studies.registry import STUDIES

        check_fields(self, skip=self.not_read())
        base = self.base_config()
        if base.report_to:
            raise ConfigError(f"train.report_to {base.report_to}: the runs of a search or study are not logged to "
                              "experiment trackers (each would be a run of its own there); its report.md and the "
                              "leaderboard hold the results. Remove report_to from the base config.")
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

    def not_read(self) -> set[str]:
        """The knobs of the other studies (registry: `reads`), which this one ignores: its check leaves them be."""
        from training.studies.registry import STUDIES

        knobs = {name for study in STUDIES.values() for name in study.reads}
        study = STUDIES.get(self.study)
        return knobs - set(study.reads) if study else knobs

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
