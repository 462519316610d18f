"""Head mode: a classification or regression run (`run:<id>`, task classification / regression) scored from its
head instead of from written text.

A classification head reads each item's input and gives a probability per class (softmax): its rows look like
choice mode's (output = the likeliest label, `probabilities` and `normalised_probabilities` = the softmax in the
benchmark's label order), so every label metric and every probability metric applies, and a head row pairs with
the choice and generate rows of the same items on the leaderboard. A regression head gives one number per item,
written with full (repr) precision so the number parser reads it back exactly.

Which benchmarks fit is decided before any weights load (`benchmark_for`): a classifier needs a benchmark with
labels that are its own classes (case ignored), a regression head one whose answers are numbers; anything else
is a BenchmarkError that says what the head is, what the benchmark scores, and which benchmarks would fit.
The input is the last user message of the item's prompt when the run trained on `input_field: prompt`, else the
item's meta field of that name (smiles ...), as training read its records.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from evaluation.benchmark import Benchmark, BenchmarkError, Item

HEAD_MODE = "head"
# What a classification head gives the metrics beside its label: the same inputs as choice mode.
HEAD_INPUTS = ("probabilities", "normalised_probabilities")
TASK_KIND = {"classification": "label", "regression": "number"}  # the answers each head's metrics read


@dataclass(frozen=True)
class HeadSpec:
    """What evaluation needs to know about a head run, read from its files (no weights load)."""

    ref: str
    task: str  # classification | regression
    labels: list[str]  # the classifier's class names ([] for regression)
    input_field: str

    def describe(self) -> str:
        if self.task == "classification":
            return f"a classification head (classes {', '.join(self.labels)})"
        return "a regression head (it predicts one number)"


def spec_of(model_ref: str) -> HeadSpec:
    from models.head import head_labels
    from models.run import head_task, run_config

    run_id = model_ref.strip().partition(":")[2]
    task = head_task(model_ref)
    if task is None:
        raise BenchmarkError(f"{model_ref} is not a classification or regression run, so it has no head to score.")
    config = run_config(run_id)
    labels = head_labels(run_id) if task == "classification" else []
    return HeadSpec(model_ref.strip(), task, labels, str(config.get("input_field") or "prompt"))


def _same_labels(a, b) -> bool:
    lower_a, lower_b = [x.strip().lower() for x in a], [x.strip().lower() for x in b]
    return len(set(lower_a)) == len(lower_a) and sorted(lower_a) == sorted(lower_b)


def scorable(bench: Benchmark, task: str) -> list:
    """The benchmark's metrics a head of this task can be scored by: those that read its kind of answer (labels
    or numbers) and no input beyond the head's probabilities (classifiers) and the benchmark's mapped fields."""
    from evaluation import metrics

    kind = TASK_KIND[task]
    allowed = set(bench.inputs) | (set(HEAD_INPUTS) if task == "classification" else set())
    kept = [spec for spec in bench.metrics
            if (metric := metrics.get(spec.name)).kind == kind and not metric.derived_from
            and set(metric.extra_inputs()) <= allowed]
    names = {spec.name for spec in kept}
    derived = [spec for spec in bench.metrics if metrics.get(spec.name).derived_from
               and set(metrics.get(spec.name).derived_from) <= names]
    return kept + derived


def fits(bench: Benchmark, task: str, labels=()) -> bool:
    """Whether a head of this task (with these class names) can be scored on the benchmark."""
    if not scorable(bench, task):
        return False
    return task != "classification" or (bool(bench.labels) and (not labels or _same_labels(labels, bench.labels)))


def suggestions(task: str, labels=(), limit: int = 3, *, matching_only: bool = False) -> list[str]:
    """Bundled benchmarks (runnable here) that fit a head of this task: for a classifier, those with its very
    classes first, then those with as many labels; choice mode (probability metrics too) before generate."""
    from evaluation import benchmark as benchmarks

    found = []
    for name in benchmarks.names():
        try:
            bench = benchmarks.load(name)
        except BenchmarkError:
            continue
        if bench.availability() or not fits(bench, task):
            continue
        matching = task == "classification" and bool(labels) and _same_labels(labels, bench.labels)
        if matching_only and not matching:
            continue
        found.append((not matching, task == "classification" and len(bench.labels) != len(labels),
                      "choice" not in bench.modes, name))
    return [name for *_, name in sorted(found)[:limit]]


def _such_as(task: str, labels=(), **kwargs) -> str:
    names = suggestions(task, labels, **kwargs)
    return f" such as {', '.join(names)}" if names else ""


def _what_it_scores(bench: Benchmark) -> str:
    from evaluation import metrics

    kinds = {metrics.get(spec.name).kind for spec in bench.metrics}
    if "label" in kinds and bench.labels:
        return f"chooses between labels ({', '.join(bench.labels)})"
    if "number" in kinds:
        return "scores numbers"
    names = ", ".join(spec.name for spec in bench.metrics)
    if kinds == {"smiles"}:
        return f"scores the SMILES a model writes ({names}), which a head cannot write"
    return f"scores written text ({names}), which a head cannot write"


def benchmark_for(model_ref: str, bench: Benchmark, head: HeadSpec | None = None) -> Benchmark:
    """The benchmark in head mode for this head run (one result whatever its modes), with the metrics the head can
    be scored by; a BenchmarkError that names the mismatch when the head cannot be scored on it."""
    head = head or spec_of(model_ref)
    kind = TASK_KIND[head.task]
    kept = scorable(bench, head.task)
    where = f"{head.ref} is {head.describe()}; benchmark {bench.name}"
    pick = f"pick a {head.task} benchmark{_such_as(head.task, head.labels)}" if not kept else ""
    if not kept:
        from evaluation import metrics

        kinds = {metrics.get(spec.name).kind for spec in bench.metrics}
        if kind in kinds:  # the right kind of metric, but each needs an input no head gives
            names = ", ".join(spec.name for spec in bench.metrics)
            raise BenchmarkError(f"{where} has no metric ({names}) that can be computed from a head's "
                                 f"{'labels and probabilities' if kind == 'label' else 'numbers'} — {pick}.")
        raise BenchmarkError(f"{where} {_what_it_scores(bench)} — {pick}.")
    if head.task == "classification":
        if not bench.labels:
            raise BenchmarkError(f"{where} names no labels to choose between — {pick or 'add labels: [...]'}.")
        if not _same_labels(head.labels, bench.labels):
            others = _such_as("classification", head.labels, matching_only=True)
            raise BenchmarkError(
                f"{head.ref} is a classification head with the classes {{{', '.join(head.labels)}}}, but benchmark "
                f"{bench.name} chooses between {{{', '.join(bench.labels)}}}: the class names must be the same "
                "(case ignored) — train the run with the benchmark's labels (labels: [...]), or pick a benchmark with "
                f"these classes{others}.")
    from evaluation import parsers

    parser = bench.parser if parsers.get(bench.parser).kind == kind else kind  # the label / number parser
    return dataclasses.replace(bench, modes=[HEAD_MODE], metrics=kept, parser=parser)


def input_text(item: Item, field: str, bench: Benchmark) -> str:
    """What the head reads of an item: its last user message ("prompt"), else its meta field `field`."""
    where = f"{bench.name}: item {item.index + 1} (id {item.id})"
    if field == "prompt":
        users = [m["content"] for m in item.messages if m["role"] == "user"]
        if not users:
            raise BenchmarkError(f"{where} has no user message for the head to read.")
        return users[-1]
    value = item.meta.get(field)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or str(value).strip() == "":
        raise BenchmarkError(f"{where} has no meta field {field!r}, which the head reads (the run's input_field); "
                             f"its fields are {', '.join(sorted(item.meta)) or 'none'}.")
    return str(value)


def check_references(items: list[Item], bench: Benchmark) -> None:
    """Every reference of a classification benchmark is one of its labels (case ignored), before any model runs."""
    lowered = {label.strip().lower() for label in bench.labels}
    for item in items:
        if str(item.reference).strip().lower() not in lowered:
            raise BenchmarkError(f"{bench.name}: item {item.index + 1} (id {item.id}): the reference "
                                 f"{item.reference!r} is not one of the labels ({', '.join(bench.labels)}).")


def in_bench_order(probabilities: dict[str, float], bench: Benchmark) -> dict[str, float]:
    """The head's probability per class, keyed and ordered by the benchmark's labels."""
    lowered = {name.strip().lower(): p for name, p in probabilities.items()}
    return {label: lowered[label.strip().lower()] for label in bench.labels}


def number_text(value: float) -> str:
    """A regression output as text the number parser reads back exactly (repr: the shortest round trip)."""
    return repr(float(value))
