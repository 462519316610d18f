"""The typed configuration of a training run; it round-trips through YAML (runs/<id>/config.yaml), so the file
the UI writes is the file `python -m training run CONFIG.yaml` replays."""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field

import yaml

from config_loader import build
from errors import ConfigError
from training.methods import METHODS

TASKS = ("sft", "classification", "regression", "pretrain")
SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BATCHING = ("padding_free", "padding")
OBJECTIVES = ("auto", "causal", "masked")


@dataclass
class MethodConfig:
    """Which weights train. LoRA fields apply to lora and qlora; `targets` also to ia3 and bitfit."""

    name: str = "lora"
    rank: int = 8
    alpha: float | None = None  # None: alpha = alpha_k × rank
    alpha_k: float = 2.0
    dropout: float = 0.05
    targets: list[str] | str = "all-linear"  # module names (q_proj, v_proj ...) or all-linear
    last_n_layers: int | None = None  # adapt only the last N transformer layers
    rslora: bool = False
    dora: bool = False

    @property
    def lora_alpha(self) -> float:
        return float(self.alpha) if self.alpha is not None else float(self.alpha_k) * int(self.rank)

    def check(self):
        if self.name not in METHODS:
            _unknown("method.name", self.name, METHODS)
        if not 1 <= int(self.rank) <= 4096:
            raise ConfigError(f"method.rank must be between 1 and 4096 (got {self.rank}).")
        if self.alpha is not None and float(self.alpha) <= 0:
            raise ConfigError(f"method.alpha must be positive (got {self.alpha}).")
        if float(self.alpha_k) <= 0:
            raise ConfigError(f"method.alpha_k must be positive (got {self.alpha_k}).")
        if not 0 <= float(self.dropout) < 1:
            raise ConfigError(f"method.dropout must be in [0, 1) (got {self.dropout}).")
        if self.last_n_layers is not None and int(self.last_n_layers) < 1:
            raise ConfigError(f"method.last_n_layers must be at least 1 (got {self.last_n_layers}).")
        if isinstance(self.targets, str) and self.targets != "all-linear":
            self.targets = [t.strip() for t in self.targets.split(",") if t.strip()]
        if not self.targets:
            raise ConfigError("method.targets is empty; name modules (q_proj, v_proj ...) or write all-linear.")


@dataclass
class TrainConfig:
    dataset: str  # bundled:ddi-binary, shared:ddi, or a file path
    base_model: str = "builtin:smollm2-135m-instruct"
    task: str = "sft"
    method: MethodConfig = field(default_factory=MethodConfig)
    train_split: str = "train"
    eval_split: str | None = "validation"  # None: no validation; a split the set lacks is skipped with a note
    eval_dataset: str | None = None  # validation from another set or file (its train split), e.g. an upload
    limit: int | None = None  # first N training records (after shuffling with the seed)
    # task inputs
    assistant_only_loss: bool = True  # sft: loss on assistant tokens only
    input_field: str = "prompt"  # classification/regression: the last user turn, or a meta key such as smiles
    labels: list[str] | None = None  # classification: the class names (default: those found in the data)
    objective: str = "auto"  # pretrain: causal for decoders, masked for encoders
    text_field: str = "messages"  # pretrain: every message's text, or a meta key such as smiles
    # optimisation
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs
    batch_size: int = 4
    grad_accum: int = 1
    learning_rate: float = 2e-4
    schedule: str = "cosine"
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int = 512
    batching: str = "padding_free"  # sft/pretrain: sequences concatenated without pad tokens, or padded batches
    precision: str = "auto"  # auto: bf16 on GPUs that support it, fp32 on CPU
    gradient_checkpointing: bool = False
    seed: int = 42
    # evaluation, checkpoints, logs
    log_every: int = 1
    eval_every: int | None = None  # steps; None: once at the end
    eval_benchmarks: list[str] = field(default_factory=list)  # scored on a few items every eval_every steps
    eval_benchmark_limit: int = 20
    early_stopping_patience: int | None = None  # evaluations without improvement before stopping
    early_stopping_min_delta: float = 0.0
    save_every: int | None = None  # steps; None: every 50 steps (and at the end), so a stopped run can resume
    keep_checkpoints: int = 2
    tensorboard: bool = True
    # after training
    evaluate: list[str] = field(default_factory=list)  # benchmarks run on run:<id>, rows on the leaderboard
    evaluate_limit: int | None = None

    def __post_init__(self):
        if isinstance(self.method, dict):
            self.method = build(MethodConfig, self.method, "method", prefix="method.")
        if isinstance(self.evaluate, str):
            self.evaluate = [b.strip() for b in self.evaluate.split(",") if b.strip()]
        if isinstance(self.eval_benchmarks, str):
            self.eval_benchmarks = [b.strip() for b in self.eval_benchmarks.split(",") if b.strip()]
        if isinstance(self.labels, str):  # "no interaction, interaction" as the UI's text box or a YAML string
            self.labels = [name.strip() for name in self.labels.split(",") if name.strip()] or None
        elif self.labels is not None:
            if any(isinstance(name, bool) for name in self.labels):
                raise ConfigError(f"labels {self.labels}: YAML reads unquoted yes/no/true/false as booleans; quote the "
                                  "class names (labels: ['no', 'yes']).")
            self.labels = [str(name).strip() for name in self.labels]  # numeric classes (0, 1) match '0', '1'
        self.check()

    def check(self):
        if not str(self.dataset or "").strip():
            raise ConfigError("dataset is empty; choose a bundled set, a shared set or a file.")
        for name, value, allowed in (("task", self.task, TASKS), ("schedule", self.schedule, SCHEDULES),
                                     ("precision", self.precision, PRECISIONS), ("batching", self.batching, BATCHING),
                                     ("objective", self.objective, OBJECTIVES)):
            if value not in allowed:
                _unknown(name, value, allowed)
        self.method.check()
        if not 0 < float(self.learning_rate) <= 1:
            raise ConfigError(f"learning_rate must be in (0, 1] (got {self.learning_rate}); typical: 1e-5 to 5e-4.")
        for name in ("batch_size", "grad_accum", "max_length", "log_every", "keep_checkpoints"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1 (got {getattr(self, name)}).")
        if self.eval_benchmarks and not self.eval_every:
            raise ConfigError("eval_benchmarks are scored every eval_every steps: set eval_every too.")
        if self.eval_benchmarks and self.task not in ("sft", "pretrain"):
            raise ConfigError(f"eval_benchmarks need a model that writes text; a {self.task} head does not.")
        for name in ("max_steps", "eval_every", "save_every", "limit", "early_stopping_patience", "evaluate_limit",
                     "eval_benchmark_limit"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ConfigError(f"{name} must be at least 1 when set (got {value}).")
        if self.max_steps is None and float(self.epochs) <= 0:
            raise ConfigError(f"epochs must be positive (got {self.epochs}).")
        if not 0 <= float(self.warmup_ratio) < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1) (got {self.warmup_ratio}).")
        if self.early_stopping_patience and not (self.eval_split or self.eval_dataset):
            raise ConfigError("early stopping needs a validation split (eval_split).")
        if self.task == "classification" and self.labels is not None and len(self.labels) < 2:
            raise ConfigError(f"labels needs at least two classes (got {self.labels}).")

    # -- YAML ------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, spec: dict, where: str = "config") -> "TrainConfig":
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a mapping of fields")
        if "dataset" not in spec:
            raise ConfigError(f"{where}: the field 'dataset' is missing")
        return _build(cls, spec, where)

    @classmethod
    def from_yaml(cls, path) -> "TrainConfig":
        from pathlib import Path

        try:
            spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the config: {exc}")
        try:
            return cls.from_dict(spec, str(path))
        except ConfigError as exc:
            message = str(exc)
            raise ConfigError(message if message.startswith(str(path)) else f"{path}: {message}") from None

    @staticmethod
    def command(path: str = "CONFIG.yaml") -> str:
        import shlex

        return f"python -m training run {shlex.quote(str(path))}"


def _unknown(name: str, value, allowed):
    close = difflib.get_close_matches(str(value), allowed, n=1)
    raise ConfigError(f"{name} {value!r} is not one of {', '.join(allowed)}." + (f" Did you mean {close[0]!r}?" if close else ""))


def _build(cls, spec: dict, where: str):
    """Every config in training loads through config_loader: unknown fields and wrong types named."""
    return build(cls, spec, where, shorthand={"method": "name"})
