"""TrainConfig: the YAML file the UI writes is the config the CLI replays, and mistakes are named on load."""
from __future__ import annotations

import shlex

import pytest
import yaml

from training.config import ConfigError, MethodConfig, TrainConfig

SPEC = {
    "dataset": "bundled:ddi-binary", "base_model": "hf:local_models/phi", "task": "classification",
    "method": {"name": "lora", "rank": 14, "alpha_k": 8, "targets": "q_proj, v_proj", "last_n_layers": 4, "dora": True},
    "labels": ["no", "yes"], "eval_dataset": "uploads/val.jsonl", "limit": 500, "max_steps": 40,
    "learning_rate": 3e-4, "schedule": "linear", "early_stopping_patience": 2, "eval_every": 10,
    "evaluate": "ddi-binary, medquad", "evaluate_limit": 50, "precision": "bf16", "gradient_checkpointing": True,
}


def test_a_config_round_trips_through_yaml():
    config = TrainConfig.from_dict(SPEC)
    assert config.method.targets == ["q_proj", "v_proj"] and config.evaluate == ["ddi-binary", "medquad"]
    text = config.to_yaml()
    again = TrainConfig.from_dict(yaml.safe_load(text))
    assert again == config
    assert again.to_yaml() == text
    assert isinstance(again.method, MethodConfig) and again.method.lora_alpha == 8 * 14


def test_the_default_config_round_trips_and_the_file_loads(tmp_path):
    config = TrainConfig(dataset="bundled:ddi-binary")
    path = tmp_path / "config.yaml"
    path.write_text(config.to_yaml(), encoding="utf-8")
    assert TrainConfig.from_yaml(path) == config
    assert yaml.safe_load(path.read_text())["method"]["alpha"] is None  # unset: alpha_k x rank


def test_alpha_is_alpha_k_times_rank_unless_set():
    assert MethodConfig(rank=6, alpha_k=8).lora_alpha == 48
    assert MethodConfig(rank=6, alpha=16).lora_alpha == 16
    assert MethodConfig().lora_alpha == 2 * 8


@pytest.mark.parametrize("spec, expected", [
    ({"dataset": "x", "learning_rat": 1e-4}, "config: unknown field 'learning_rat'. Did you mean 'learning_rate'?"),
    ({"dataset": "x", "method": {"name": "lora", "rnak": 4}}, "method: unknown field 'rnak'. Did you mean 'rank'?"),
    ({"dataset": "x", "task": "clasification"}, "task 'clasification' is not one of sft, classification, regression, "
                                                "pretrain, dpo, kto, orpo, grpo. Did you mean 'classification'?"),
    ({"dataset": "x", "method": {"name": "bitfitt"}}, "Did you mean 'bitfit'?"),
    ({"dataset": "x", "schedule": "cosin"}, "Did you mean 'cosine'?"),
])
def test_unknown_names_get_a_did_you_mean(spec, expected):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(spec)
    assert expected in str(info.value)


def test_a_file_with_a_mistake_is_named_in_the_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("dataset: x\nbatch_sise: 8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*'batch_sise'.*Did you mean 'batch_size'"):
        TrainConfig.from_yaml(path)
    path.write_text("base_model: builtin:smollm2-135m-instruct\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml: the field 'dataset' is missing"):
        TrainConfig.from_yaml(path)
    path.write_text("dataset: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read the config"):
        TrainConfig.from_yaml(path)


@pytest.mark.parametrize("change, message", [
    ({"early_stopping_patience": 2, "eval_split": None}, "early stopping needs a validation split"),
    ({"task": "classification", "labels": ["only"]}, "labels needs at least two classes"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"max_steps": 0}, "max_steps must be at least 1"),
    ({"epochs": 0}, "epochs must be positive"),
    ({"warmup_ratio": 1.0}, "warmup_ratio must be in [0, 1)"),
    ({"dataset": "  "}, "dataset is empty"),
])
def test_impossible_settings_are_refused_on_load(change, message):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"dataset": "x", **change})
    assert message in str(info.value)


def test_command_is_the_cli_line_that_replays_the_file():
    assert TrainConfig.command("runs/x/config.yaml") == "python -m training run runs/x/config.yaml"
    assert TrainConfig(dataset="x").command() == "python -m training run CONFIG.yaml"
    spaced = TrainConfig.command("my runs/x/config.yaml")  # a path with a space stays one argument
    assert shlex.split(spaced) == ["python", "-m", "training", "run", "my runs/x/config.yaml"]


def test_the_command_replays_the_yaml_through_the_cli(llama, chat_file, isolated_runs, capsys):
    """What the UI shows works: the written YAML, run by the command's arguments, trains and records the run."""
    import json

    from tests.training.conftest import config_of
    from training.__main__ import main

    config = config_of({"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora"}, "max_steps": 1})
    path = isolated_runs.parent / "my config.yaml"
    path.write_text(config.to_yaml(), encoding="utf-8")
    argv = shlex.split(config.command(str(path)))
    assert argv[:3] == ["python", "-m", "training"]
    assert main(argv[3:] + ["--run-dir", str(isolated_runs / "replayed"), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 1 and summary["method"] == "lora"
    assert TrainConfig.from_yaml(isolated_runs / "replayed" / "config.yaml") == config
    assert main(["check", str(path)]) == 0


def test_class_names_given_as_text_or_numbers_become_a_list_of_names():
    assert TrainConfig(dataset="x", task="classification", labels="no interaction, interaction").labels == [
        "no interaction", "interaction"]
    assert TrainConfig(dataset="x", task="classification", labels=[0, 1]).labels == ["0", "1"]
    with pytest.raises(ConfigError, match="labels needs at least two classes"):
        TrainConfig(dataset="x", task="classification", labels="interaction")


def test_unquoted_yes_no_class_names_in_yaml_are_explained(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dataset: x\ntask: classification\nlabels: [no, yes]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="quote the class names"):
        TrainConfig.from_yaml(path)
    path.write_text("dataset: x\ntask: classification\nlabels: ['no', 'yes']\n", encoding="utf-8")
    config = TrainConfig.from_yaml(path)
    assert config.labels == ["no", "yes"] and TrainConfig.from_dict(yaml.safe_load(config.to_yaml())) == config
