"""GRPO rewards from the metric registry: each metric reads an answer as its benchmarks do (its parser by kind),
compares it with the record's reference field, and scores it; the built-in format and length rewards; answers a
metric cannot score never beat wrong ones; component names for the events."""
from __future__ import annotations

import pytest

from data.records import Record
from training.config import ConfigError
from training.rewards import Reward, check, check_data, columns, functions, unique_names


def run(reward: Reward, completions: list, records: list, **extra):
    """The TRL reward function of one reward on completions for the given records (one completion each)."""
    (function,) = functions([reward], records)
    cols: dict = {}
    for record in records:
        for key, value in columns([reward], record).items():
            cols.setdefault(key, []).append(value)
    return function(prompts=[None] * len(completions), completions=completions, **cols, **extra)


SMILES = [Record.chat("SMILES of ethanol?", "CCO", smiles="CCO")] * 3


def test_smiles_rewards_read_the_answer_as_the_smiles_benchmarks_do():
    answers = [[{"role": "assistant", "content": "The SMILES is `OCC`."}],  # conversational, canonical match
               [{"role": "assistant", "content": "C1CC("}], [{"role": "assistant", "content": "ethanol"}]]
    assert run(Reward("smiles_exact_match", reference="smiles"), answers, SMILES) == [1.0, 0.0, 0.0]
    assert run(Reward("smiles_validity"), answers, SMILES) == [1.0, 0.0, 0.0]  # no SMILES at all: 0, not None
    assert run(Reward("tanimoto", reference="answer"), answers, SMILES)[0] == 1.0


def test_a_label_metric_reads_the_labels_found_in_the_data():
    records = [Record.chat("pair 1", "interaction"), Record.chat("pair 2", "no interaction"),
               Record.chat("pair 3", "interaction")]
    answers = ["Interaction.", "I think: no interaction", "maybe"]
    assert run(Reward("classification"), answers, records) == [1.0, 1.0, 0.0]


def test_a_lower_is_better_score_is_a_penalty_and_an_unscorable_answer_gets_the_batch_floor():
    records = [Record.chat("logS?", "-2.0", label=-2.0)] * 3
    assert run(Reward("regression", reference="label"), ["-2.5", "no idea", "1.0"], records) == [-0.5, -3.0, -3.0]


def test_format_and_length_rewards():
    records = [Record.chat("q", "a")] * 4
    assert run(Reward("format", pattern="(interaction|no interaction)"), [" no interaction", "interaction!",
                                                                           "<think>hm</think>interaction", ""],
               records) == [1.0, 0.0, 1.0, 0.0]
    assert run(Reward("length", max_words=2), ["one", "one two", "one two three four", "  "], records) == [
        1.0, 1.0, 0.5, 0.0]


def test_further_inputs_come_from_the_meta_field_of_that_name():
    records = [Record.chat("risks?", "", keywords=["rash", "QT prolongation"])]
    assert run(Reward("keyword_recall"), ["QT prolongation only"], records) == [0.5]
    with pytest.raises(ConfigError, match=r"grpo.rewards\[0\].metric: a record of set.jsonl has no field 'keywords'"):
        check_data([Reward("keyword_recall")], [Record.chat("q", "a")], "set.jsonl")


def test_each_component_has_a_name_and_the_weights_are_the_configs():
    rewards = [Reward("length", max_words=1), Reward("smiles_validity"), Reward("length", max_words=3, weight=0.2)]
    assert unique_names(rewards) == ["length", "smiles_validity", "length_2"]
    assert [f.__name__ for f in functions(rewards, [])] == ["length", "smiles_validity", "length_2"]
    with pytest.raises(ConfigError, match=r"grpo.rewards\[0\]: pattern and max_words belong to the format and length"):
        check([Reward("tanimoto", pattern="x")])
    with pytest.raises(ConfigError, match=r"grpo.rewards\[0\].reference: the length reward compares with no"):
        check([Reward("length", max_words=1, reference="smiles")])
    with pytest.raises(ConfigError, match=r"grpo.rewards\[0\].max_words must be at least 1"):
        check([Reward("length", max_words=0)])
