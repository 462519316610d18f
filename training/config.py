"""The typed configuration of a training run; it round-trips through YAML (runs/<id>/config.yaml), so the file
the UI writes is the file `python -m training run CONFIG.yaml` replays."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import yaml

from config_loader import build, check_fields, describe
from errors import ConfigError
from training.methods import METHODS
from training.tasks import TASKS as TASK_ENTRIES
from training.tracking import TRACKERS

TASKS = tuple(TASK_ENTRIES)  # training.tasks.TASKS is the registry, with each task's capabilities
SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BATCHING = ("padding_free", "padding")
OBJECTIVES = ("auto", "causal", "masked")


@dataclass
class MethodName:
    """What every method's config has: which method. MethodConfig adds the registered methods' settings."""

    name: str = field(default="lora", metadata=describe("Method", "which weights train (training.methods.METHODS)",
                                                         choices=METHODS, form_id="method"))


def method_config_class() -> type:
    """MethodConfig: `name` and the settings of every registered method (training.methods: lora's rank, alpha ...,
    the targets that lora, qlora, ia3 and bitfit read), each settings dataclass once. The settings are its bases, so
    their properties (lora_alpha) and own checks come with them; a method with new hyperparameters touches only
    its module and its registration."""
    settings: list[type] = []
    for method in METHODS.values():
        for cls in method.settings:
            if cls not in settings:
                settings.append(cls)
    declared: dict[str, type] = {"name": MethodName}
    for cls in settings:
        for f in dataclasses.fields(cls):
            if f.name in declared:
                raise TypeError(f"method.{f.name} is declared twice, by {declared[f.name].__qualname__} and "
                                f"{cls.__qualname__}: give one of them another name, or share one settings class.")
            declared[f.name] = cls
    # a dataclass takes its fields from its bases in reverse order: name first, then each method's settings
    return dataclasses.make_dataclass("MethodConfig", [], bases=(*reversed(settings), MethodName),
                                      namespace={"__module__": __name__, "check": _check_method,
                                                 "__doc__": "Which weights train, and each method's settings "
                                                            "(training.methods: a method's `settings`)."})


def _check_method(self):
    """The field limits from the metadata, then each settings class's own `check` (targets: a list, not empty)."""
    check_fields(self, prefix="method.")
    for settings in type(self).__bases__:
        own = vars(settings).get("check")
        if own:
            own(self)


MethodConfig = method_config_class()


def task_sections() -> dict[str, type]:
    """Config section -> settings dataclass, from the task registry (a section shared by several tasks, such as
    preference for dpo, kto and orpo, is one class)."""
    sections: dict[str, type] = {}
    for name, task in TASK_ENTRIES.items():
        cls = task.settings_class
        if cls is None:
            continue
        if task.section in sections and sections[task.section] is not cls:
            raise TypeError(f"the config section {task.section!r} of task {name} is declared by two settings classes")
        sections[task.section] = cls
    return sections


@dataclass
class TrainFields:
    """TrainConfig's own fields (TrainConfig adds each task's settings section: training.tasks)."""

    dataset: str = field(metadata=describe(
        "Dataset (bundled or shared set, an uploaded file, or a file path)",
        "bundled:ddi-binary, shared:ddi, or a file path", short="Dataset"))
    base_model: str = field(default="builtin:smollm2-135m-instruct", metadata=describe(
        "Base model (or type hf:<folder> or run:<id>, then Enter)", "builtin:<name>, hf:<folder> or run:<id>",
        short="Base model"))
    task: str = field(default="sft", metadata=describe("Task", "what the model learns (training.tasks)",
                                                       choices=TASKS))
    method: MethodConfig = field(default_factory=MethodConfig, metadata=describe(
        "Method settings", "which weights train, and the method's own settings"))
    train_split: str = field(default="train", metadata=describe("Training split", "the split that trains"))
    eval_split: str | None = field(default="validation", metadata=describe(
        "Validation split (none = no validation)",
        "none: no validation; a split the set lacks is skipped with a note", short="Validation split"))
    eval_dataset: str | None = field(default=None, metadata=describe(
        "Validation from another set or file", "validation from another set or file (its train split), e.g. an upload",
        short="Validation set", placeholder="bundled:drug-qa or a path"))
    limit: int | None = field(default=None, metadata=describe(
        "Training examples (0 = all)", "the first N training records (after shuffling with the seed)",
        short="Training examples limit", minimum=1))
    # task inputs
    assistant_only_loss: bool = field(default=True, metadata=describe(
        "SFT: loss on assistant tokens only", "sft: the loss covers the assistant turns only",
        form_id="assistant-only"))
    input_field: str = field(default="prompt", metadata=describe(
        "Classification/regression input (prompt, or a meta key such as smiles)",
        "classification/regression: the last user turn, or a meta key such as smiles", short="Input field"))
    labels: list[str] | None = field(default=None, metadata=describe(
        "Class names (comma-separated; empty = from the data)",
        "classification: the class names (default: those found in the data)", short="Class names"))
    objective: str = field(default="auto", metadata=describe(
        "Pretrain objective", "pretrain: causal for decoders, masked for encoders", choices=OBJECTIVES))
    text_field: str = field(default="messages", metadata=describe(
        "Pretrain text (messages, or a meta key)", "pretrain: every message's text, or a meta key such as smiles",
        short="Pretrain text"))
    # optimisation
    epochs: float = field(default=1.0, metadata=describe(
        "Epochs", "passes over the training set (max_steps overrides it)", exclusive_minimum=0))
    max_steps: int | None = field(default=None, metadata=describe(
        "Max steps (0 = use epochs)", "optimizer steps; overrides epochs", short="Max steps", minimum=1))
    batch_size: int = field(default=4, metadata=describe("Batch size", "examples per device and step", minimum=1))
    grad_accum: int = field(default=1, metadata=describe(
        "Gradient accumulation", "batches per optimizer step", minimum=1))
    learning_rate: float = field(default=2e-4, metadata=describe(
        "Learning rate", "the peak learning rate", exclusive_minimum=0, maximum=1, typical="1e-5 to 5e-4"))
    schedule: str = field(default="cosine", metadata=describe(
        "Schedule", "the learning rate after warmup", choices=SCHEDULES))
    warmup_ratio: float = field(default=0.05, metadata=describe(
        "Warmup ratio", "the share of steps the learning rate rises over", minimum=0, exclusive_maximum=1,
        form_id="warmup"))
    weight_decay: float = field(default=0.0, metadata=describe("Weight decay", "AdamW's weight decay"))
    max_grad_norm: float = field(default=1.0, metadata=describe(
        "Max gradient norm", "gradients are clipped to this norm"))
    max_length: int = field(default=512, metadata=describe(
        "Max length (tokens)", "tokens per example; longer ones are cut", short="Max length", minimum=1))
    batching: str = field(default="padding_free", metadata=describe(
        "Batching", "sft/pretrain: sequences concatenated without pad tokens, or padded batches", choices=BATCHING))
    precision: str = field(default="auto", metadata=describe(
        "Precision (auto: bf16 on a GPU, fp32 on CPU)", "auto: bf16 on GPUs that support it, fp32 on CPU",
        short="Precision", choices=PRECISIONS))
    gradient_checkpointing: bool = field(default=False, metadata=describe(
        "Gradient checkpointing", "recompute activations in the backward pass: less memory, slower steps",
        form_id="grad-ckpt"))
    seed: int = field(default=42, metadata=describe("Seed", "shuffling, initialisation and dropout", minimum=0))
    # evaluation, checkpoints, logs
    log_every: int = field(default=1, metadata=describe("Log every N steps", "steps between train events",
                                                        short="Log every", minimum=1))
    eval_every: int | None = field(default=None, metadata=describe(
        "Evaluate every N steps (0 = at the end)", "steps between validations; none: once at the end",
        short="Evaluate every", minimum=1))
    eval_benchmarks: list[str] = field(default_factory=list, metadata=describe(
        "Benchmarks during training", "scored on a few items every eval_every steps"))
    eval_benchmark_limit: int = field(default=20, metadata=describe(
        "Items per benchmark during training", "the first N items of each eval_benchmarks benchmark",
        short="Benchmark items during training", minimum=1))
    early_stopping_patience: int | None = field(default=None, metadata=describe(
        "Early-stopping patience (0 = off)", "evaluations without improvement before stopping",
        short="Early-stopping patience", minimum=1, form_id="patience"))
    early_stopping_min_delta: float = field(default=0.0, metadata=describe(
        "Early-stopping min delta", "the smallest change in the validation loss that counts as improvement",
        minimum=0, form_id="min-delta"))
    save_every: int | None = field(default=None, metadata=describe(
        "Checkpoint every N steps (0 = the trainer's default, 50)",
        "steps between checkpoints; none: every 50 steps (and at the end), so a stopped run can resume",
        short="Checkpoint every", minimum=1))
    keep_checkpoints: int = field(default=2, metadata=describe(
        "Checkpoints kept", "the newest N checkpoints stay on disk", minimum=1))
    tensorboard: bool = field(default=True, metadata=describe("TensorBoard logs", "write tensorboard/ in the run"))
    report_to: list[str] = field(default_factory=list, metadata=describe(
        "Also log to (MLflow, trackio, W&B)", "experiment trackers beside TensorBoard (training.tracking)",
        short="Experiment tracking", choices=TRACKERS))
    # after training
    evaluate: list[str] = field(default_factory=list, metadata=describe(
        "Benchmarks to run after training (rows go to the Leaderboard)",
        "benchmarks run on run:<id> after training, rows on the leaderboard", short="Evaluate after training"))
    evaluate_limit: int | None = field(default=None, metadata=describe(
        "Benchmark limit (first N items; 0 = all)", "the first N items of each benchmark", short="Benchmark limit",
        minimum=1))

    def __post_init__(self):
        if isinstance(self.method, dict):
            self.method = build(MethodConfig, self.method, "method", prefix="method.")
        for section, cls in task_sections().items():
            if isinstance(getattr(self, section, None), dict):
                setattr(self, section, build(cls, getattr(self, section), section, prefix=section + "."))
        if isinstance(self.evaluate, str):
            self.evaluate = [b.strip() for b in self.evaluate.split(",") if b.strip()]
        if isinstance(self.eval_benchmarks, str):
            self.eval_benchmarks = [b.strip() for b in self.eval_benchmarks.split(",") if b.strip()]
        if isinstance(self.report_to, str):
            self.report_to = [name.strip() for name in self.report_to.split(",") if name.strip()]
        if isinstance(self.labels, str):  # "no interaction, interaction" as the UI's text box or a YAML string
            self.labels = [name.strip() for name in self.labels.split(",") if name.strip()] or None
        elif self.labels is not None:
            if any(isinstance(name, bool) for name in self.labels):
                raise ConfigError(f"labels {self.labels}: YAML reads unquoted yes/no/true/false as booleans; quote the "
                                  "class names (labels: ['no', 'yes']).")
            self.labels = [str(name).strip() for name in self.labels]  # numeric classes (0, 1) match '0', '1'
        self.check()

    def check(self):
        """Every field's choices and limits (their metadata above), the method's, then the rules across fields."""
        if not str(self.dataset or "").strip():
            raise ConfigError("dataset is empty; choose a bundled set, a shared set or a file.")
        check_fields(self, skip=("epochs",) if self.max_steps is not None else ())  # max_steps overrides epochs
        self.method.check()
        if self.eval_benchmarks and not self.eval_every:
            raise ConfigError("eval_benchmarks are scored every eval_every steps: set eval_every too.")
        task = TASK_ENTRIES[self.task]
        if self.eval_benchmarks and not task.writes_text:
            raise ConfigError(f"eval_benchmarks need a model that writes text; a {self.task} head does not.")
        if task.section:  # the task's own settings: their limits, then their rules (rewards, group size ...)
            settings = getattr(self, task.section)
            check_fields(settings, prefix=f"{task.section}.")
            if hasattr(settings, "check_for"):
                settings.check_for(self)
        if self.early_stopping_patience and not (self.eval_split or self.eval_dataset):
            raise ConfigError("early stopping needs a validation split (eval_split).")
        if self.task == "classification" and self.labels is not None and len(self.labels) < 2:
            raise ConfigError(f"labels needs at least two classes (got {self.labels}).")

    # -- YAML ------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Every field; of the tasks' settings sections only the one this task reads (the others are defaults)."""
        own = TASK_ENTRIES[self.task].section
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in task_sections() or k == own}

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


def train_config_class() -> type:
    """TrainConfig: TrainFields and one field per task settings section (`preference: {beta: 0.1}`, `grpo: {...}`),
    so a task with new hyperparameters touches only its module and its registration."""
    sections = [(name, cls, field(default_factory=cls, metadata=describe(
        f"{name} settings", (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else name)))
        for name, cls in task_sections().items()]
    return dataclasses.make_dataclass("TrainConfig", sections, bases=(TrainFields,),
                                      namespace={"__module__": __name__, "__doc__": TrainFields.__doc__.replace(
                                          "TrainConfig's own fields (TrainConfig adds", "A training run's config (with")})


TrainConfig = train_config_class()


def _build(cls, spec: dict, where: str):
    """Every config in training loads through config_loader: unknown fields and wrong types named."""
    return build(cls, spec, where, shorthand={"method": "name"})
