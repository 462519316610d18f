"""The price table (prices.yaml): dollars per 1M tokens for training and inference, with a date and a source, and
when OpenAI stops fine-tuning each model and retires it, with the stages of its fine-tuning wind-down.

Prices change, so they live in YAML the user can edit (in the OpenAI tab); the edited copy goes to
PHARMATUNE_OPENAI_PRICES or $PHARMATUNE_DATA/openai_prices.yaml and wins over the packaged default. A copy saved
before the dates existed gets them from the packaged table (rows it has, the wind-down), so it never hides them.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from errors import UserError

DEFAULT_FILE = Path(__file__).with_name("prices.yaml")
RATE_FIELDS = ("training", "ft_input", "ft_output", "input", "output")
PER = 1_000_000


class PriceError(UserError, ValueError):
    """The price table is not usable; the message names the file and the field."""


DATE_FIELDS = ("fine_tuning_until", "retires")


@dataclass(frozen=True)
class ModelDates:
    """When OpenAI refuses new fine-tuning jobs on a model (from `fine_tuning_until` on) and when the model and
    its fine-tunes stop answering (`retires`), with where that was read and which of the two is uncertain."""

    fine_tuning_until: date | None
    retires: date | None
    source: str
    as_of: date
    uncertain: frozenset[str] = frozenset()
    note: str = ""

    def certain(self, field: str) -> bool:
        return field not in self.uncertain


@dataclass(frozen=True)
class Stage:
    """From `date` on, OpenAI refuses new fine-tuning jobs to the organisations `who` describes."""

    date: date
    who: str
    certain: bool = True


@dataclass(frozen=True)
class WindDown:
    """OpenAI's self-serve fine-tuning wind-down: its stages, oldest first; the last one closes it for everyone."""

    stages: tuple[Stage, ...]
    source: str
    as_of: date
    note: str = ""

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def days_left(self, today: date) -> int:
        """Days from `today` to the last stage's date (negative once it has passed)."""
        return (self.final.date - today).days

    def passed(self, today: date) -> list[Stage]:
        return [s for s in self.stages if s.date <= today]


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
    dates: ModelDates | None = None

    @property
    def confirmed(self) -> bool:
        return self.status == "published"


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    path: str
    models: dict[str, Price]
    aliases: dict[str, str]
    wind_down: WindDown | None = None

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


def _date(value, where: str) -> date:
    """A YYYY-MM-DD date (YAML reads an unquoted one as a date already), or PriceError naming `where`."""
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise PriceError(f"{where}: {value!r} is not a date; write it as YYYY-MM-DD (e.g. \"2027-01-06\").") from None


def _text(value) -> str:
    return str(value or "").strip()


def _model_dates(row: dict, where: str) -> ModelDates | None:
    given = {key: row.get(key) for key in DATE_FIELDS if row.get(key) is not None}
    meta = row.get("dates")
    if not given:
        if meta is not None:
            raise PriceError(f"{where}.dates: give fine_tuning_until or retires (YYYY-MM-DD) with it, or remove it.")
        return None
    if not isinstance(meta, dict) or not _text(meta.get("source")):
        raise PriceError(f"{where}.dates.source: say where {' and '.join(given)} come(s) from "
                         "(dates: {source: ..., as_of: YYYY-MM-DD}).")
    values = {key: _date(value, f"{where}.{key}") for key, value in given.items()}
    if "fine_tuning_until" in values and "retires" in values and values["fine_tuning_until"] > values["retires"]:
        raise PriceError(f"{where}.fine_tuning_until: {values['fine_tuning_until']} is after retires "
                         f"({values['retires']}); a retired model cannot be fine-tuned.")
    if meta.get("as_of") is None:
        raise PriceError(f"{where}.dates.as_of: say when these dates were read (YYYY-MM-DD).")
    uncertain = meta.get("uncertain") or []
    if isinstance(uncertain, str):
        uncertain = [uncertain]
    if not isinstance(uncertain, list) or any(u not in DATE_FIELDS for u in uncertain):
        raise PriceError(f"{where}.dates.uncertain: a list of {' and '.join(DATE_FIELDS)}, not {uncertain!r}.")
    return ModelDates(values.get("fine_tuning_until"), values.get("retires"), _text(meta["source"]),
                      _date(meta["as_of"], f"{where}.dates.as_of"), frozenset(uncertain), _text(meta.get("note")))


def _wind_down(spec, where: str) -> WindDown | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise PriceError(f"{where}: must be a mapping with source, as_of and stages.")
    if not _text(spec.get("source")):
        raise PriceError(f"{where}.source: say where the wind-down's dates come from.")
    if spec.get("as_of") is None:
        raise PriceError(f"{where}.as_of: say when these dates were read (YYYY-MM-DD).")
    stages = spec.get("stages")
    if not isinstance(stages, list) or not stages:
        raise PriceError(f"{where}.stages: give at least one stage ({{date: YYYY-MM-DD, who: ...}}).")
    out: list[Stage] = []
    for i, stage in enumerate(stages):
        at = f"{where}.stages[{i}]"
        if not isinstance(stage, dict):
            raise PriceError(f"{at}: must be a mapping with date and who.")
        if stage.get("date") is None:
            raise PriceError(f"{at}.date: say from when new jobs are refused (YYYY-MM-DD).")
        day = _date(stage["date"], f"{at}.date")
        if not _text(stage.get("who")):
            raise PriceError(f"{at}.who: say whose new jobs are refused from {day}.")
        certain = stage.get("certain", True)
        if not isinstance(certain, bool):
            raise PriceError(f"{at}.certain: must be true or false, not {certain!r}.")
        if out and day <= out[-1].date:
            raise PriceError(f"{at}.date: {day} is not after the stage before it ({out[-1].date}); list the stages "
                             "oldest first.")
        out.append(Stage(day, _text(stage["who"]), certain))
    return WindDown(tuple(out), _text(spec["source"]), _date(spec["as_of"], f"{where}.as_of"), _text(spec.get("note")))


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
                                reference_time=reference, dates=_model_dates(row, f"{source}, models.{name}"))
    aliases = spec.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise PriceError(f"{source}, aliases: must map names to rows of models.")
    for alias, target in aliases.items():
        if target not in rows:
            raise PriceError(f"{source}, aliases.{alias}: {target!r} is not a row of models.")
    return PriceTable(str(spec["as_of"]), source, rows, {str(k): str(v) for k, v in aliases.items()},
                      _wind_down(spec.get("wind_down"), f"{source}, wind_down"))


def load(path: str | Path | None = None) -> PriceTable:
    path = Path(path) if path else current_file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceError(f"{path}: cannot read the price table ({exc.strerror}).") from None
    table = parse(text, str(path))
    return table if path.resolve() == DEFAULT_FILE.resolve() else with_default_dates(table)


def with_default_dates(table: PriceTable) -> PriceTable:
    """A user's table with the packaged wind-down and model dates where it has none of its own (a copy saved
    before the dates existed); what it says itself always wins."""
    if table.wind_down is not None and all(row.dates is not None for row in table.models.values()):
        return table
    default = parse(DEFAULT_FILE.read_text(encoding="utf-8"), str(DEFAULT_FILE))
    rows = {}
    for name, row in table.models.items():
        packaged = default.models.get(name)
        rows[name] = row if row.dates or packaged is None else dataclasses.replace(row, dates=packaged.dates)
    return dataclasses.replace(table, models=rows, wind_down=table.wind_down or default.wind_down)


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
