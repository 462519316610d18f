"""The price table (prices.yaml): dollars per 1M tokens for training and inference, with a date and a source.

Prices change, so they live in YAML the user can edit (in the OpenAI tab); the edited copy goes to
PHARMATUNE_OPENAI_PRICES or $PHARMATUNE_DATA/openai_prices.yaml and wins over the packaged default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from errors import UserError

DEFAULT_FILE = Path(__file__).with_name("prices.yaml")
RATE_FIELDS = ("training", "ft_input", "ft_output", "input", "output")
PER = 1_000_000


class PriceError(UserError, ValueError):
    """The price table is not usable; the message names the file and the field."""


@dataclass(frozen=True)
class Price:
    model: str
    training: float | None
    ft_input: float | None
    ft_output: float | None
    input: float | None
    output: float | None
    max_tokens_per_example: int | None
    status: str
    source: str
    reference_time: dict | None = None

    @property
    def confirmed(self) -> bool:
        return self.status == "published"


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    path: str
    models: dict[str, Price]
    aliases: dict[str, str]

    def resolve(self, model: str) -> Price | None:
        """The row for a model name, an alias, an `openai:` reference or an `ft:<base>:...` id."""
        name = model.removeprefix("openai:")
        if name.startswith("ft:"):
            name = name.split(":")[1]
        name = self.aliases.get(name, name)
        return self.models.get(name)

    def training_cost(self, model: str, tokens: int) -> float | None:
        row = self.resolve(model)
        return None if row is None or row.training is None else tokens * row.training / PER

    def inference_cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Fine-tuned (ft:...) models use the ft_ rates of their base; others the base model's own rates."""
        row = self.resolve(model)
        if row is None:
            return None
        fine_tuned = model.removeprefix("openai:").startswith("ft:")
        rate_in, rate_out = (row.ft_input, row.ft_output) if fine_tuned else (row.input, row.output)
        if rate_in is None or rate_out is None:
            return None
        return (prompt_tokens * rate_in + completion_tokens * rate_out) / PER


def user_file() -> Path:
    import settings

    return Path(os.environ.get("PHARMATUNE_OPENAI_PRICES") or settings.data_dir() / "openai_prices.yaml").expanduser()


def current_file() -> Path:
    path = user_file()
    return path if path.is_file() else DEFAULT_FILE


def parse(text: str, source: str) -> PriceTable:
    """Validate the YAML text of a price table; every problem names `source` and the field."""
    import yaml

    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise PriceError(f"{source}{where}: not valid YAML ({getattr(exc, 'problem', exc)}).") from None
    if not isinstance(spec, dict):
        raise PriceError(f"{source}: the price table must be a mapping with as_of and models.")
    if not spec.get("as_of"):
        raise PriceError(f"{source}, as_of: say when these prices were read (e.g. as_of: \"2025-06-01\").")
    models = spec.get("models")
    if not isinstance(models, dict) or not models:
        raise PriceError(f"{source}, models: give at least one model with its prices per 1M tokens.")
    rows = {}
    for name, row in models.items():
        if not isinstance(row, dict):
            raise PriceError(f"{source}, models.{name}: must be a mapping of prices.")
        values = {}
        for key in RATE_FIELDS:
            value = row.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise PriceError(f"{source}, models.{name}.{key}: must be a number of dollars per 1M tokens ≥ 0, "
                                 f"not {value!r}.")
            values[key] = None if value is None else float(value)
        limit = row.get("max_tokens_per_example")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise PriceError(f"{source}, models.{name}.max_tokens_per_example: must be a whole number ≥ 1.")
        if not str(row.get("source") or "").strip():
            raise PriceError(f"{source}, models.{name}.source: say where this price comes from.")
        reference = row.get("reference_time")
        if reference is not None and not (isinstance(reference, dict) and reference.get("trained_tokens")
                                          and reference.get("seconds")):
            raise PriceError(f"{source}, models.{name}.reference_time: needs trained_tokens and seconds.")
        rows[str(name)] = Price(str(name), **values, max_tokens_per_example=limit,
                                status=str(row.get("status") or "to be confirmed"), source=str(row["source"]),
                                reference_time=reference)
    aliases = spec.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise PriceError(f"{source}, aliases: must map names to rows of models.")
    for alias, target in aliases.items():
        if target not in rows:
            raise PriceError(f"{source}, aliases.{alias}: {target!r} is not a row of models.")
    return PriceTable(str(spec["as_of"]), source, rows, {str(k): str(v) for k, v in aliases.items()})


def load(path: str | Path | None = None) -> PriceTable:
    path = Path(path) if path else current_file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceError(f"{path}: cannot read the price table ({exc.strerror}).") from None
    return parse(text, str(path))


def save(text: str) -> Path:
    """Validate, then write the user's copy atomically (an invalid table never replaces a valid one)."""
    from data.io import atomic_write

    target = user_file()
    parse(text, str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as fh:
        fh.write(text)
    return target


def model_choices(table: PriceTable | None = None) -> list[str]:
    table = table or load()
    return list(table.models)
