"""One loader for every config: unknown fields and wrong types are refused by field name, before a job starts."""
import pytest

from errors import ConfigError
from evaluation.config import EvalConfig
from training.config import TrainConfig
from training.search.config import SearchConfig


@pytest.mark.parametrize("method, message", [
    ({"rank": "abc"}, "method.rank: 'abc' is not a whole number"),
    ({"rank": 8.7}, "method.rank: 8.7 is not a whole number"),
    ({"rank": True}, "method.rank: True is not a whole number"),
    ({"dropout": "lots"}, "method.dropout: 'lots' is not a number"),
    ({"rslora": "yes"}, "method.rslora: 'yes' is not true or false"),
    ({"rnak": 4}, "method: unknown field 'rnak'. Did you mean 'rank'?"),
    (["lora"], "method: expected a mapping of fields, got list"),
])
def test_bad_method_fields_are_named(method, message):
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_dict({"dataset": "bundled:ddi-binary", "method": method})
    assert message in str(caught.value)


def test_a_file_names_itself_and_the_field(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("dataset: bundled:ddi-binary\nbatch_size: four\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"run\.yaml: batch_size: 'four' is not a whole number"):
        TrainConfig.from_yaml(path)


def test_values_a_person_would_write_are_read_as_meant():
    config = TrainConfig.from_dict({"dataset": "bundled:ddi-binary", "method": "lora", "batch_size": 8.0,
                                    "learning_rate": "2e-4", "max_steps": "40", "evaluate": "ddi-binary, drug-qa"})
    assert config.method.name == "lora"  # method: lora is short for method: {name: lora}
    assert (config.batch_size, config.max_steps) == (8, 40) and isinstance(config.batch_size, int)
    assert config.learning_rate == 2e-4  # YAML reads 2e-4 (no dot) as a string
    assert config.evaluate == ["ddi-binary", "drug-qa"]


def test_the_evaluation_and_search_configs_use_the_same_checks():
    with pytest.raises(ConfigError, match="batch_size: 'big' is not a whole number"):
        EvalConfig.from_dict({"models": ["dummy:echo"], "benchmarks": ["ddi-binary"], "batch_size": "big"})
    with pytest.raises(ConfigError, match="limit: 2.5 is not a whole number"):
        EvalConfig.from_dict({"models": ["dummy:echo"], "benchmarks": ["ddi-binary"], "limit": 2.5})
    with pytest.raises(ConfigError, match="trials: 'many' is not a whole number"):
        SearchConfig.from_dict({"train": {"dataset": "bundled:ddi-binary"}, "space": {"learning_rate": [1e-4]},
                                "trials": "many"})
