"""What each training task promises: SFT learns from the assistant's tokens only (by default), classification and
regression heads train and report accuracy / RMSE, domain-adaptive pretraining picks causal or masked LM, and a
later run starts from a pretraining run's output (base_model: run:<id>)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from tests.training.conftest import train, write_jsonl
from training.config import ConfigError

CONVERSATION = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Does warfarin interact with fluconazole?"},
    {"role": "assistant", "content": "Yes, via CYP2C9."},
    {"role": "user", "content": "And aspirin?"},
    {"role": "assistant", "content": "The bleeding risk rises."},
]


def labelled_runs(example) -> list[list[int]]:
    """The maximal runs of consecutive labelled tokens."""
    runs, current = [], []
    for token, label in zip(example["input_ids"], example["labels"]):
        if label != -100:
            assert label == token  # a label is the token itself (the model shifts)
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])


# -- SFT -----------------------------------------------------------------------------------------------------
def test_sft_labels_only_each_assistant_answer_and_its_end_of_turn(tiny_llama):
    from transformers import AutoTokenizer

    from training.tasks.sft import encode

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    example = encode(tokenizer, CONVERSATION, 512, assistant_only=True)
    assert tokenizer.decode(example["input_ids"]) == tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert [tokenizer.decode(run) for run in labelled_runs(example)] == [
        "Yes, via CYP2C9.<|im_end|>", "The bleeding risk rises.<|im_end|>"]


def test_sft_without_assistant_only_loss_labels_every_token(tiny_llama):
    from transformers import AutoTokenizer

    from training.tasks.sft import encode

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    example = encode(tokenizer, CONVERSATION, 512, assistant_only=False)
    assert example["labels"] == example["input_ids"]


def test_sft_drops_an_example_whose_answer_max_length_cuts_off(tiny_llama):
    from transformers import AutoTokenizer

    from training.tasks.sft import encode

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    assert encode(tokenizer, CONVERSATION[:3], 8, assistant_only=True) is None
    assert encode(tokenizer, CONVERSATION[:3], 8, assistant_only=False) is not None


def test_sft_without_a_chat_template_uses_the_plain_format_generation_uses(tmp_path, chat_file, isolated_runs):
    from transformers import AutoTokenizer

    from models.transformers_backend import TransformersChatModel
    from tests.conftest import build_tiny_llama
    from training.tasks.sft import encode

    folder = build_tiny_llama(tmp_path / "plain", chat_template=False)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert not tokenizer.chat_template
    example = encode(tokenizer, CONVERSATION[1:3], 512, assistant_only=True)
    text = tokenizer.decode(example["input_ids"])
    assert text == "User: Does warfarin interact with fluconazole?\nAssistant: Yes, via CYP2C9.\n<|im_end|>"
    assert [tokenizer.decode(run) for run in labelled_runs(example)] == [" Yes, via CYP2C9.\n<|im_end|>"]
    # the prompt is exactly what chat sends to such a model, so training and generation agree
    prompt = TransformersChatModel.__new__(TransformersChatModel)
    prompt.tokenizer = tokenizer
    assert text.startswith(tokenizer.decode(prompt._encode(CONVERSATION[1:2])))

    run = train({"dataset": str(chat_file), "base_model": f"hf:{folder}", "method": {"name": "lora"}},
                isolated_runs / "plain-sft")
    assert run.summary["steps"] == 3 and math.isfinite(run.summary["train_loss"])
    assert (run.run_dir / "adapter" / "adapter_config.json").is_file()


def test_sft_features_follow_assistant_only_loss_and_a_run_without_it_trains(llama, tiny_llama, chat_file,
                                                                            isolated_runs):
    from transformers import AutoTokenizer

    from data.validation import load
    from tests.training.conftest import config_of
    from training.tasks import sft

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    items = load(chat_file)
    counted = {}
    for flag in (True, False):
        features, notes = sft.features(items, tokenizer, config_of({"dataset": str(chat_file), "assistant_only_loss": flag}), {})
        counted[flag] = (sum(len(f["input_ids"]) for f in features), sum(l != -100 for f in features for l in f["labels"]))
    assert counted[False][0] == counted[False][1] == counted[True][0]  # every token, or ...
    assert 0 < counted[True][1] < counted[False][1] / 2  # ... only the answers, a minority of these chats
    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora"}, "assistant_only_loss": False,
                 "max_steps": 1}, isolated_runs / "everything")
    assert run.summary["steps"] == 1 and math.isfinite(run.summary["train_loss"])


# -- classification ------------------------------------------------------------------------------------------
def test_classification_head_trains_and_reports_accuracy_that_the_saved_model_reproduces(
        llama, classify_files, isolated_runs):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    train_file, eval_file = classify_files
    run = train({"dataset": str(train_file), "eval_dataset": str(eval_file), "task": "classification",
                 "base_model": llama, "method": {"name": "full"}, "max_steps": 8, "eval_every": 4}, isolated_runs / "cls")
    evals = run.of("eval")
    assert [e["step"] for e in evals] == [4, 8]
    assert all(0.0 <= e["eval_accuracy"] <= 1.0 for e in evals)
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    accuracy = run.summary["final_eval"]["eval_accuracy"]

    folder = run.run_dir / "model"
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    assert model.config.id2label == {0: "no", 1: "yes"}
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = [json.loads(line) for line in eval_file.read_text().splitlines()]
    right = 0
    for row in rows:
        enc = tokenizer(row["messages"][0]["content"], return_tensors="pt")
        with torch.no_grad():
            predicted = model(**enc).logits.argmax(-1).item()
        right += model.config.id2label[predicted] == row["meta"]["label"]
    assert accuracy == pytest.approx(right / len(rows))


def test_classification_refuses_a_label_outside_the_configured_classes(llama, classify_files, isolated_runs):
    with pytest.raises(ConfigError, match="label 'yes' is not one of"):
        train({"dataset": str(classify_files[0]), "task": "classification", "labels": ["no", "maybe"],
               "base_model": llama, "method": {"name": "lora"}}, isolated_runs / "bad-label")


# -- regression ----------------------------------------------------------------------------------------------
def test_regression_head_reports_rmse_which_falls_on_an_easy_target(llama, regression_files, isolated_runs):
    train_file, eval_file = regression_files
    run = train({"dataset": str(train_file), "eval_dataset": str(eval_file), "task": "regression",
                 "input_field": "smiles", "base_model": llama, "method": {"name": "full"},
                 "max_steps": 8, "eval_every": 2}, isolated_runs / "reg")
    evals = run.of("eval")
    assert len(evals) == 4
    for e in evals:  # the loss is the mean squared error of the one output
        assert e["eval_rmse"] == pytest.approx(math.sqrt(e["eval_loss"]), rel=1e-5)
    rmse = [e["eval_rmse"] for e in evals]
    assert rmse == sorted(rmse, reverse=True) and rmse[-1] < 0.8 * rmse[0]
    assert run.summary["final_eval"]["eval_rmse"] == pytest.approx(rmse[-1])


def test_regression_refuses_a_target_that_is_not_a_number(llama, tmp_path, isolated_runs):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"messages": [{"role": "user", "content": "x"},
                                                              {"role": "assistant", "content": "high"}],
                                                 "meta": {"id": "r7"}}])
    with pytest.raises(ConfigError, match="r7.*'high' is not a number"):
        train({"dataset": str(path), "task": "regression", "base_model": llama, "method": {"name": "full"}},
              isolated_runs / "bad-target")


# -- domain-adaptive pretraining -----------------------------------------------------------------------------
def test_causal_pretraining_from_text_then_sft_starts_from_its_weights(llama, tiny_llama, text_file, chat_file,
                                                                        isolated_runs):
    from safetensors.torch import load_file

    pre = train({"dataset": str(text_file), "task": "pretrain", "base_model": llama, "method": {"name": "full"},
                 "max_length": 32}, isolated_runs / "pretrain")
    assert any("causal LM" in note for note in pre.summary["notes"])
    assert pre.of("setup")[0]["train_examples"] > 4  # the lines were packed into 32-token blocks
    trained = load_file(pre.run_dir / "model" / "model.safetensors")
    original = load_file(tiny_llama / "model.safetensors")
    assert not torch.equal(trained["model.layers.0.self_attn.q_proj.weight"], original["model.layers.0.self_attn.q_proj.weight"])

    sft = train({"dataset": str(chat_file), "base_model": f"run:{pre.run_id}", "method": {"name": "lora"}},
                isolated_runs / "sft-after", capture=True)
    assert sft.of("setup")[0]["base_folder"] == str(pre.run_dir / "model")
    # the model in memory as the method left it (sft.before would hold the base file's tensors themselves)
    start = {n.replace("base_model.model.", "").replace(".base_layer", ""): p for n, p in sft.loaded.items() if "lora_" not in n}
    assert set(start) == set(trained)
    assert all(torch.equal(start[n], trained[n]) for n in trained)  # it began from the pretrained weights


def test_masked_pretraining_of_an_encoder_then_regression_from_it(tiny_bert, text_file, regression_files,
                                                                 isolated_runs):
    from transformers import AutoConfig

    from tests.training.conftest import config_of
    from training.tasks.pretrain import objective

    spec = {"dataset": str(text_file), "task": "pretrain", "base_model": f"hf:{tiny_bert}", "method": {"name": "full"}}
    assert objective(config_of(spec), AutoConfig.from_pretrained(tiny_bert)) == "masked"
    pre = train(spec, isolated_runs / "mlm")
    assert any("masked LM" in note for note in pre.summary["notes"])
    saved = json.loads((pre.run_dir / "model" / "config.json").read_text())
    assert saved["architectures"] == ["BertForMaskedLM"]
    assert math.isfinite(pre.summary["train_loss"]) and pre.summary["train_loss"] > 0

    train_file, eval_file = regression_files
    reg = train({"dataset": str(train_file), "eval_dataset": str(eval_file), "task": "regression",
                 "input_field": "smiles", "base_model": f"run:{pre.run_id}", "method": {"name": "full"}},
                isolated_runs / "reg-after-mlm")
    assert reg.of("setup")[0]["base_folder"] == str(pre.run_dir / "model")
    assert "eval_rmse" in reg.summary["final_eval"]


def test_masked_pretraining_with_lora_then_a_run_from_it(tiny_bert, text_file, regression_files, isolated_runs):
    """run:<id> of an adapter run is merged first; for an encoder that must stay a masked LM."""
    pre = train({"dataset": str(text_file), "task": "pretrain", "base_model": f"hf:{tiny_bert}",
                 "method": {"name": "lora", "rank": 2}}, isolated_runs / "mlm-lora")
    assert (pre.run_dir / "adapter" / "adapter_config.json").is_file()
    reg = train({"dataset": str(regression_files[0]), "task": "regression", "input_field": "smiles",
                 "base_model": f"run:{pre.run_id}", "method": {"name": "lora"}}, isolated_runs / "reg-after-lora")
    merged = pre.run_dir / "merged"
    assert reg.of("setup")[0]["base_folder"] == str(merged)
    assert json.loads((merged / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]


def test_an_explicit_masked_objective_on_a_decoder_tokenizer_without_mask_is_refused(llama, text_file, isolated_runs):
    with pytest.raises(ConfigError, match="objective masked: 'llama' models have no masked-LM head"):
        train({"dataset": str(text_file), "task": "pretrain", "objective": "masked", "base_model": llama,
               "method": {"name": "full"}}, isolated_runs / "masked-llama")


def test_pretraining_reads_a_meta_field_such_as_smiles(llama, regression_files, isolated_runs):
    pre = train({"dataset": str(regression_files[0]), "task": "pretrain", "text_field": "smiles", "base_model": llama,
                 "method": {"name": "lora"}, "max_steps": 1}, isolated_runs / "smiles")
    assert pre.summary["steps"] == 1


def test_a_run_that_is_not_finished_cannot_be_a_base(chat_file, isolated_runs):
    from models.errors import ModelError

    (isolated_runs / "unfinished").mkdir()
    (isolated_runs / "unfinished" / "config.yaml").write_text("dataset: x\n")
    with pytest.raises(ModelError, match="no trained weights"):
        train({"dataset": str(chat_file), "base_model": "run:unfinished", "method": {"name": "lora"}},
              isolated_runs / "after-unfinished")


def test_a_base_model_folder_that_is_missing_or_not_a_model_is_named(chat_file, tmp_path, isolated_runs):
    from models.errors import ModelError

    with pytest.raises(ModelError, match=r"hf:/no/such/model: tried the folder /no/such/model, which does not exist"):
        train({"dataset": str(chat_file), "base_model": "hf:/no/such/model", "method": {"name": "lora"}},
              isolated_runs / "missing")
    with pytest.raises(ModelError, match="has no config.json"):
        train({"dataset": str(chat_file), "base_model": f"hf:{tmp_path}", "method": {"name": "lora"}},
              isolated_runs / "not-a-model")
