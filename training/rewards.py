"""GRPO rewards from the metric registry: any registered metric with a per-item score (`Metric.item_fn`) scores
one generated answer, parsed the way the metric reads answers (its `kind`: text, label, number, SMILES), against
the record's reference field; two rewards are built in: `format` (the answer matches a pattern) and `length` (at
most N words).

    grpo:
      rewards:
        - {metric: smiles_exact_match, weight: 1.0, reference: smiles}   # a meta field of the records
        - {metric: smiles_validity, weight: 0.5}                         # needs no reference
        - {metric: format, weight: 0.2, pattern: "^(interaction|no interaction)$"}

A reference is the record's answer (`answer`, the default for metrics that compare with one) or one of its meta
fields. A lower-is-better score (regression's absolute error) counts as a penalty (its negative). An answer the
metric cannot score (no SMILES in it: validity None; no number in it) gets the lowest reward of its batch, and
never more than 0, so a model does not learn to dodge a reward by not answering. Everything wrong with a reward
is a ConfigError naming the field (`grpo.rewards[1].metric`) before the job starts: `check` when the config loads,
`check_data` when its records are read.
"""
from __future__ import annotations

import difflib
import inspect
import math
import re
from dataclasses import dataclass, field

from config_loader import check_fields, describe
from errors import ConfigError

BUILTIN = {
    "format": "1 when the whole answer matches `pattern` (a regular expression), else 0",
    "length": "1 for answers of at most `max_words` words, max_words / words for longer ones, 0 for an empty one",
}
PARSER_FOR_KIND = {"text": "text", "label": "label", "number": "number", "smiles": "smiles"}
NO_GENERATION_INPUTS = ("probabilities", "normalised_probabilities")  # choice mode's, not a generated answer's


@dataclass
class Reward:
    """One reward component: a metric, its weight in the sum, and what it compares the answer with."""

    metric: str = field(metadata=describe(
        "Metric", "a registered metric with a per-item score (python -m evaluation list), or format / length"))
    weight: float = field(default=1.0, metadata=describe("Weight", "this reward's weight in the sum"))
    reference: str | None = field(default=None, metadata=describe(
        "Reference field", "answer (the record's answer) or a meta field such as smiles; none: answer when the "
        "metric compares with a reference", short="Reference field"))
    pattern: str | None = field(default=None, metadata=describe(
        "Pattern (format)", "format: a regular expression the whole answer must match", short="Pattern"))
    max_words: int | None = field(default=None, metadata=describe(
        "Max words (length)", "length: answers up to this many words score 1", short="Max words", minimum=1))
    labels: list[str] | None = field(default=None, metadata=describe(
        "Labels (label metrics)", "label metrics (classification): the class names the answer is read as; "
        "default: the references found in the data", short="Labels"))


def _metrics():
    from evaluation import metrics

    return metrics.all_metrics()


def scored_metrics() -> list[str]:
    """The names a reward may use: the built-in ones and every metric with a per-item score."""
    return [*BUILTIN, *(name for name, m in _metrics().items() if m.item_fn and not _needs_probabilities(m))]


def _needs_probabilities(metric) -> bool:
    return any(i in NO_GENERATION_INPUTS for i in metric.extra_inputs())


def check(rewards: list[Reward], where: str = "grpo.rewards") -> None:
    """What can be known without the data: known metrics with a per-item score, their own settings."""
    if not rewards:
        raise ConfigError(f"{where} is empty: GRPO needs at least one reward, e.g. "
                          "[{metric: smiles_validity, weight: 1.0}] (python -m evaluation list shows the metrics).")
    known = _metrics()
    for i, reward in enumerate(rewards):
        name = f"{where}[{i}]"
        check_fields(reward, prefix=f"{name}.")
        if not math.isfinite(float(reward.weight)):
            raise ConfigError(f"{name}.weight must be a finite number (got {reward.weight}).")
        if reward.metric in BUILTIN:
            _check_builtin(reward, name)
            continue
        metric = known.get(reward.metric)
        if metric is None:
            close = difflib.get_close_matches(reward.metric, scored_metrics(), n=2, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(f"{name}.metric: unknown metric {reward.metric!r}.{hint} Rewards can use "
                              f"{', '.join(scored_metrics())}.")
        if metric.item_fn is None:
            raise ConfigError(f"{name}.metric: {reward.metric} has no per-item score (it is computed over a whole "
                              f"set), so it cannot score one answer. Metrics with one: "
                              f"{', '.join(scored_metrics())}.")
        if _needs_probabilities(metric):
            raise ConfigError(f"{name}.metric: {reward.metric} reads the label probabilities of choice mode, which a "
                              "generated answer does not have.")
        if reward.pattern is not None or reward.max_words is not None:
            raise ConfigError(f"{name}: pattern and max_words belong to the format and length rewards, not to "
                              f"{reward.metric}.")
        if reward.labels is not None and metric.kind != "label":
            raise ConfigError(f"{name}.labels: {reward.metric} reads {metric.kind}, not labels.")


def _check_builtin(reward: Reward, name: str) -> None:
    if reward.metric == "format":
        if not reward.pattern:
            raise ConfigError(f"{name}.pattern: the format reward needs a pattern, e.g. "
                              "'^(interaction|no interaction)$'.")
        try:
            re.compile(reward.pattern)
        except re.error as exc:
            raise ConfigError(f"{name}.pattern {reward.pattern!r} is not a regular expression: {exc}.") from None
    if reward.metric == "length" and not reward.max_words:
        raise ConfigError(f"{name}.max_words: the length reward needs max_words (the longest answer that scores 1).")
    if reward.reference is not None:
        raise ConfigError(f"{name}.reference: the {reward.metric} reward compares with no reference.")


def needs_reference(metric_name: str) -> bool:
    """Whether the metric's per-item score compares with a reference (its item_fn's `reference` has no default)."""
    if metric_name in BUILTIN:
        return False
    parameters = inspect.signature(_metrics()[metric_name].item_fn).parameters
    reference = parameters.get("reference")
    return reference is not None and reference.default is inspect.Parameter.empty


def reference_field(reward: Reward) -> str | None:
    return reward.reference or ("answer" if needs_reference(reward.metric) else None)


def extra_inputs(reward: Reward) -> tuple[str, ...]:
    """The metric's further inputs (keyword_recall's keywords), read from the records' meta fields of that name."""
    return () if reward.metric in BUILTIN else _metrics()[reward.metric].extra_inputs()


def value_of(record, name: str):
    """A record's field as a reward reads it: `answer` is the final assistant turn, anything else a meta field."""
    if name == "answer":
        return record.answer
    return record.meta.get(name)


def check_data(rewards: list[Reward], records: list, dataset: str, where: str = "grpo.rewards") -> None:
    """Every reward's reference field and further inputs are in every record (named with the record and the
    fields it has), and label metrics have their class names."""
    for i, reward in enumerate(rewards):
        needed = [(f"{where}[{i}].reference", reference_field(reward))]
        needed += [(f"{where}[{i}].metric", key) for key in extra_inputs(reward)]
        for name, key in needed:
            if key is None:
                continue
            for record in records:
                value = value_of(record, key)
                if value is None or value == "":
                    fields = ", ".join(["answer"] * (record.answer is not None) + sorted(record.meta)) or "none"
                    what = "has no answer" if key == "answer" else f"has no field {key!r}"
                    which = f"record {record.meta['id']}" if "id" in record.meta else "a record"
                    raise ConfigError(f"{name}: {which} of {dataset} {what}; its fields: {fields}.")


def unique_names(rewards: list[Reward]) -> list[str]:
    """Each component's name in the events: the metric, numbered when a metric comes twice."""
    seen: dict[str, int] = {}
    out = []
    for reward in rewards:
        seen[reward.metric] = seen.get(reward.metric, 0) + 1
        out.append(reward.metric if seen[reward.metric] == 1 else f"{reward.metric}_{seen[reward.metric]}")
    return out


def columns(rewards: list[Reward], record) -> dict:
    """The dataset columns the reward functions read for one record (TRL hands every column to them)."""
    out = {}
    for i, reward in enumerate(rewards):
        key = reference_field(reward)
        if key is not None:
            out[f"reward_{i}_reference"] = str(value_of(record, key))
        for name in extra_inputs(reward):
            value = value_of(record, name)
            out[f"reward_{i}_{name}"] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return out


def completion_text(completion) -> str:
    """A TRL completion (a string, or a list of messages) as the answer's text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion or "")


def scorer(reward: Reward, labels: list[str] | None = None):
    """answer text, reference, further inputs -> the reward of one answer (None when the metric cannot score it)."""
    from evaluation import parsers

    if reward.metric == "format":
        pattern = re.compile(reward.pattern)
        return lambda text, reference=None, **_: float(bool(pattern.fullmatch(parsers.final_answer(text))))
    if reward.metric == "length":
        limit = int(reward.max_words)

        def length(text, reference=None, **_):
            words = len(parsers.final_answer(text).split())
            return 0.0 if words == 0 else min(1.0, limit / words)  # an empty answer is no answer

        return length
    metric = _metrics()[reward.metric]
    parse = parsers.get(PARSER_FOR_KIND[metric.kind]).fn
    labels = list(reward.labels or labels or [])
    sign = 1.0 if metric.higher_is_better else -1.0  # an error (regression's absolute error) is a penalty

    def score(text, reference=None, **inputs):
        value = metric.item_fn(parse(text, labels=labels), reference, **inputs)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else sign * float(value)

    return score


def fill_unscorable(values: list[float | None]) -> list[float]:
    """An answer the metric cannot score (None) gets the batch's lowest reward, and never more than 0: answering
    nothing is never better than a wrong answer."""
    scored = [v for v in values if v is not None]
    floor = min([0.0, *scored])
    return [floor if v is None else v for v in values]


def functions(rewards: list[Reward], records: list | None = None) -> list:
    """TRL reward functions, one per component (named as in the events), each scoring a batch of completions."""
    out = []
    for i, (reward, name) in enumerate(zip(rewards, unique_names(rewards))):
        labels = None
        if reward.metric in _metrics() and _metrics()[reward.metric].kind == "label" and not reward.labels:
            key = reference_field(reward)
            labels = sorted({str(value_of(r, key)) for r in records or [] if value_of(r, key) is not None})
        out.append(_function(i, reward, name, scorer(reward, labels)))
    return out


def _function(i: int, reward: Reward, name: str, score):
    inputs = extra_inputs(reward)

    def reward_function(prompts=None, completions=None, **columns):
        references = columns.get(f"reward_{i}_reference") or [None] * len(completions)
        extra = {key: columns.get(f"reward_{i}_{key}") or [None] * len(completions) for key in inputs}
        values = [score(completion_text(c), ref, **{k: v[j] for k, v in extra.items()})
                  for j, (c, ref) in enumerate(zip(completions, references))]
        return fill_unscorable(values)

    reward_function.__name__ = reward_function.__qualname__ = name
    return reward_function
