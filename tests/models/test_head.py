"""models.head: a classification or regression run loaded for prediction (full weights or a PEFT adapter with its
saved score head), and models.run.head_task, which says what a reference is without loading weights."""
from __future__ import annotations

import pytest

from models.errors import ModelError
from tests.head_runs import direct_logits, link_runs, train_head_runs

TEXTS = ["Does warfarin interact with fluconazole? case 11",
         "Does metformin interact with fluconazole? case 12, a longer question than the first one",
         "Does warfarin interact?"]
SMILES = ["CC(=O)OC1=CC=CC=C1C(=O)O", "CN(C)C(=N)N=C(N)N", "CCO"]


@pytest.fixture(scope="module")
def trained(tiny_llama, tmp_path_factory):
    return train_head_runs(tmp_path_factory.mktemp("head-runs"), tiny_llama)


@pytest.fixture
def runs(trained, isolated_runs):
    link_runs(trained, isolated_runs)
    return isolated_runs


@pytest.mark.parametrize("run_id", ["cls-lora", "cls-full"])
def test_a_classification_head_gives_softmax_probabilities_of_its_classes(runs, run_id):
    from models.head import load_head

    head = load_head(run_id)
    assert (head.task, head.labels, head.input_field, head.max_length) == ("classification", ["no", "yes"], "prompt", 64)
    batched = head.predict(TEXTS)
    assert [list(p) for p in batched] == [["no", "yes"]] * 3
    for text, probs in zip(TEXTS, batched):
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
        direct = direct_logits(run_id, text, runs).softmax(-1).tolist()
        assert list(probs.values()) == pytest.approx(direct, abs=1e-5)  # padding in a batch changes nothing
        assert head.predict([text])[0] == pytest.approx(probs, abs=1e-6)


@pytest.mark.parametrize("run_id", ["reg-full", "reg-lora"])
def test_a_regression_head_gives_one_number_per_text(runs, run_id):
    from models.head import load_head

    head = load_head(run_id)
    assert (head.task, head.labels, head.input_field) == ("regression", [], "smiles")
    values = head.predict(SMILES)
    assert all(isinstance(v, float) for v in values) and len(set(values)) == 3
    for text, value in zip(SMILES, values):
        assert value == pytest.approx(float(direct_logits(run_id, text, runs)[0]), abs=1e-5)


def test_an_adapter_classifier_without_configured_labels_names_its_classes_as_training_did(runs):
    from models.head import head_labels
    from models.run import run_config
    from training.config import TrainConfig
    from training.tasks import classification

    config = run_config("cls-lora")
    assert config["labels"] is None and not (runs / "cls-lora" / "adapter" / "config.json").exists()
    train_config = TrainConfig.from_dict(config)
    expected = classification.classes(train_config, classification.load_items(train_config, "train"))
    assert head_labels("cls-lora") == expected == ["no", "yes"]
    # training wrote them beside the adapter, so they stay right if the data set changes later
    names = runs / "cls-lora" / "adapter" / "class_names.json"
    assert names.read_text() == '["no", "yes"]'
    names.write_text('["yes", "no"]')
    assert head_labels("cls-lora") == ["yes", "no"]  # read from the file, not from the data
    names.write_text('["no", "yes"]')


def test_head_models_are_loaded_once_per_process(runs):
    from models.head import load_head
    from models.registry import CACHE

    assert load_head("cls-lora") is load_head("cls-lora")
    assert "head:run:cls-lora" in CACHE.loaded()


def test_head_task_reads_the_run_without_loading_weights(runs):
    from models.registry import CACHE
    from models.run import head_task

    assert [head_task(r) for r in ("run:cls-lora", "run:reg-full", "run:sft-only", "run:nothing-here",
                                   "builtin:smollm2-135m-instruct", "dummy:echo", "")] == \
        ["classification", "regression", None, None, None, None, None]
    assert CACHE.loaded() == []


def test_a_head_run_cannot_chat_and_the_error_points_to_head_evaluation(runs):
    from models import resolve

    with pytest.raises(ModelError) as info:
        resolve("run:reg-full")
    message = str(info.value)
    assert "run:reg-full trained a regression head" in message and "cannot chat" in message
    assert "evaluate it on a regression benchmark" in message


def test_load_head_refuses_a_text_run_and_names_a_missing_one(runs):
    from models.head import load_head

    with pytest.raises(ModelError, match="run:sft-only trained a sft model, which writes text"):
        load_head("sft-only")
    with pytest.raises(ModelError, match="run:gone: no training run with that id"):
        load_head("gone")
