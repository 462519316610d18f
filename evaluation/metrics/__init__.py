"""The metric registry: every metric by name, with the metadata the runner, the CLI and the leaderboard read.

A metric is a function `(predictions, references, **inputs) -> dict` of named values. `outputs` lists the
scalar values it returns (the leaderboard's columns) with their direction; other keys (a confusion matrix, the
model that scored) are details kept beside them. `kind` says what the predictions are after the benchmark's
answer parser: text, label (str or None), number (float or None) or smiles (list of SMILES found).
Family modules register themselves on import; heavy libraries are imported inside the functions.
"""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from errors import UserError

FAMILIES = ("text", "embedding", "questeval", "smiles", "classification", "probability", "regression", "keywords",
            "combined")
KINDS = ("text", "label", "number", "smiles")


class MetricError(UserError, ValueError):
    """A metric name, option or input is wrong; the message names it."""


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[..., dict]
    description: str  # one line, shown in `python -m evaluation list` and the UI
    outputs: dict[str, bool]  # scalar output -> higher is better; the first one is the metric's headline
    kind: str = "text"
    inputs: tuple[str, ...] = ("predictions", "references")  # beyond these two: e.g. questions, keywords, labels
    heavy: bool = False  # loads a model (seconds, hundreds of MB): the UI says so and the bench skips it
    options: tuple[str, ...] = ()  # keyword settings a benchmark may give, e.g. judge for QuestEval
    item_fn: Callable[..., float | None] | None = None  # (prediction, reference, **inputs) -> per-item score
    derived_from: tuple[str, ...] = ()  # metrics whose outputs this one combines (it gets them as `scores=`)
    family: str = ""

    @property
    def higher_is_better(self) -> bool:
        return next(iter(self.outputs.values()))

    @property
    def headline(self) -> str:
        return next(iter(self.outputs))

    def extra_inputs(self) -> tuple[str, ...]:
        return tuple(i for i in self.inputs if i not in ("predictions", "references"))


METRICS: dict[str, Metric] = {}


def register(name: str, *, description: str, outputs: dict[str, bool], kind: str = "text",
             inputs: tuple[str, ...] = ("predictions", "references"), heavy: bool = False,
             options: tuple[str, ...] = (), item_fn=None, derived_from: tuple[str, ...] = ()):
    """Decorator: add a metric function to METRICS. Output names must be unique across all metrics."""
    if kind not in KINDS:
        raise ValueError(f"metric {name}: kind {kind!r} is not one of {KINDS}")

    def add(fn):
        if name in METRICS:
            raise ValueError(f"metric {name!r} is registered twice")
        taken = {out: m.name for m in METRICS.values() for out in m.outputs}
        for out in outputs:
            if out in taken:
                raise ValueError(f"metric {name}: output {out!r} is already produced by {taken[out]}")
        METRICS[name] = Metric(name, fn, description, dict(outputs), kind, tuple(inputs), heavy, tuple(options),
                               item_fn, tuple(derived_from), fn.__module__.rsplit(".", 1)[-1])
        return fn

    return add


def _load_families() -> None:
    for family in FAMILIES:
        importlib.import_module(f"evaluation.metrics.{family}")


def get(name: str) -> Metric:
    """The metric called `name`; an unknown name gets the closest known names."""
    _load_families()
    if name not in METRICS:
        close = difflib.get_close_matches(name, METRICS, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise MetricError(f"Unknown metric {name!r}.{hint} Known metrics: {', '.join(sorted(METRICS))}")
    return METRICS[name]


def all_metrics() -> dict[str, Metric]:
    _load_families()
    return dict(METRICS)


def output_direction(output: str) -> bool | None:
    """Whether a leaderboard column (a metric output) is better high (True), low (False), or unknown (None)."""
    for metric in all_metrics().values():
        if output in metric.outputs:
            return metric.outputs[output]
    return None


def compute(name: str, predictions: list, references: list, **inputs: Any) -> dict:
    """Run one metric with a check that the inputs line up; errors name the metric and the input."""
    metric = get(name)
    if len(predictions) != len(references):
        raise MetricError(f"{name}: {len(predictions)} predictions but {len(references)} references")
    if not predictions:
        raise MetricError(f"{name}: there are no predictions to score")
    for key in metric.extra_inputs():
        if key not in inputs:
            raise MetricError(f"{name} needs the input {key!r}")
        if len(inputs[key]) != len(predictions):
            raise MetricError(f"{name}: {len(inputs[key])} {key} for {len(predictions)} predictions")
    unknown = set(inputs) - set(metric.extra_inputs()) - set(metric.options) - {"scores"}
    if unknown:
        raise MetricError(f"{name} does not take {', '.join(sorted(unknown))}; it takes "
                          f"{', '.join(metric.extra_inputs() + metric.options) or 'no extra inputs'}")
    return metric.fn(predictions, references, **inputs)


@dataclass
class Scores:
    """Named values from several metrics: scalars for the leaderboard, details for the report."""

    values: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, metric: Metric, result: dict) -> None:
        for key, value in result.items():
            if key in metric.outputs:
                self.values[key] = None if value is None else float(value)
            else:
                self.details[key] = value
