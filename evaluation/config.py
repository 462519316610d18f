"""The typed configuration of an evaluation job; it round-trips through YAML (runs/<id>/config.yaml)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import yaml

from config_loader import build
from errors import ConfigError


@dataclass
class EvalConfig:
    models: list[str]
    benchmarks: list[str]
    limit: int | None = None
    batch_size: int = 8
    variants: list[str] | None = None
    judge: str | None = None  # QuestEval-style judge (default: the builtin model)
    predictions: str | None = None  # score this file of outputs instead of generating
    leaderboard: bool = True

    def __post_init__(self):
        if isinstance(self.models, str):
            self.models = [self.models]
        if isinstance(self.benchmarks, str):
            self.benchmarks = [self.benchmarks]
        if not self.models:
            raise ConfigError("Choose at least one model.")
        if not self.benchmarks:
            raise ConfigError("Choose at least one benchmark.")
        if self.limit is not None and int(self.limit) < 1:
            raise ConfigError(f"limit must be at least 1 (got {self.limit}).")
        if int(self.batch_size) < 1:
            raise ConfigError(f"batch_size must be at least 1 (got {self.batch_size}).")
        if self.predictions and len(self.models) * len(self.benchmarks) != 1:
            raise ConfigError("A predictions file is scored on one benchmark under one model name.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, spec: dict, where: str = "config") -> "EvalConfig":
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a mapping of fields")
        for key in ("models", "benchmarks"):
            if key not in spec:
                raise ConfigError(f"{where}: the field {key!r} is missing")
        return build(cls, spec, where)

    @classmethod
    def from_yaml(cls, path) -> "EvalConfig":
        from pathlib import Path

        try:
            spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the config: {exc}")
        return cls.from_dict(spec, str(path))

    def command(self, path: str = "CONFIG.yaml") -> str:
        return f"python -m evaluation run --config {path}"


def slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:80]


