"""Hostile input: random bytes and random JSON/YAML shapes fed to every data-format reader, the benchmark YAML
loader, the config loaders and the OpenAI checks. Only the project's own errors (errors.UserError, with a
sentence) may come out: never a crash with another exception, never a hang (hypothesis bounds each case)."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from errors import UserError

FUZZ = settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
                    max_leaves=12)
# shapes near the real ones, so the readers get past their first check
CHAT_KEYS = st.sampled_from(["messages", "conversations", "instruction", "input", "output", "prompt", "completion",
                             "role", "content", "from", "value", "weight", "meta"])
NEAR_CHAT = st.recursive(JSON, lambda inner: st.dictionaries(CHAT_KEYS, inner, max_size=4) | st.lists(inner, max_size=3),
                         max_leaves=10)


def scratch(suffix: str, data: bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="pharmatune-fuzz-"))
    path = folder / f"input{suffix}"
    path.write_bytes(data)
    return path


def only_our_errors(call):
    try:
        call()
    except UserError as exc:
        assert str(exc).strip(), "an error without a sentence"
    except RecursionError:  # a nesting deeper than Python's stack: the JSON parser's own limit
        pass


@pytest.mark.parametrize("fmt", [None, "records", "openai", "alpaca", "sharegpt", "prompt_completion"])
@FUZZ
@given(data=st.binary(max_size=400) | st.lists(NEAR_CHAT, max_size=4).map(
    lambda rows: "\n".join(json.dumps(r) for r in rows).encode()))
def test_the_data_readers_take_anything(fmt, data):
    from data.validation import load, validate

    path = scratch(".jsonl", data)
    only_our_errors(lambda: validate(path, fmt))
    only_our_errors(lambda: load(path, fmt))


@FUZZ
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_csv_and_json_files_too(data):
    from data.validation import validate

    only_our_errors(lambda: validate(scratch(".csv", data), None))
    only_our_errors(lambda: validate(scratch(".json", data), None))


YAML_SPECS = st.one_of(st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace")),
                       st.dictionaries(st.sampled_from(["dataset", "split", "prompt", "parser", "metrics", "mode",
                                                        "generation", "few_shot", "variants", "name", "models",
                                                        "benchmarks", "method", "rank", "batch_size", "space",
                                                        "train", "study", "trials", "limit"]), JSON,
                                       max_size=6).map(lambda d: yaml.safe_dump(d)))


@FUZZ
@given(text=YAML_SPECS)
def test_benchmark_and_config_files_take_anything(text):
    from evaluation import benchmark
    from evaluation.config import EvalConfig
    from training.config import TrainConfig
    from training.search.config import SearchConfig
    from training.studies.config import StudyConfig

    path = scratch(".yaml", text.encode("utf-8", "replace"))
    for load in (benchmark.load, TrainConfig.from_yaml, EvalConfig.from_yaml, SearchConfig.from_yaml,
                 StudyConfig.from_yaml):
        only_our_errors(lambda load=load: load(path))


@FUZZ
@given(lines=st.lists(st.binary(max_size=200) | NEAR_CHAT.map(lambda r: json.dumps(r).encode()), max_size=6))
def test_the_openai_checks_take_anything(lines):
    from openai_ft.checks import check_lines

    result = check_lines(lines, "fuzz.jsonl")  # findings, never an exception
    assert result is not None
