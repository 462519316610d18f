"""Exports of a finished run: the merged model equals base + adapter, the model card says how it was made, run:<id>
chats (or says why it cannot), and a push without a token is a clear error."""
from __future__ import annotations

import json

import pytest
import torch

from models.errors import ModelError
from tests.training.conftest import label_rows, train, write_jsonl

IDS = torch.tensor([[3, 57, 120, 9, 244, 31, 77, 5]])
Q = [{"role": "user", "content": "Does warfarin interact with fluconazole?"}]


def logits(model, ids=IDS):
    with torch.no_grad():
        return model.eval()(input_ids=ids).logits


def test_a_merged_lora_model_is_a_standalone_folder_with_the_adapter_s_logits(llama, tiny_llama, chat_file,
                                                                               isolated_runs):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from training import export

    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora", "rank": 4}},
                isolated_runs / "sft-lora")
    folder = export.merged(run.run_id)
    assert folder == run.run_dir / "merged"
    names = sorted(p.name for p in folder.iterdir())
    assert "model.safetensors" in names and "config.json" in names and "README.md" in names
    assert "adapter_config.json" not in names and not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)

    merged = AutoModelForCausalLM.from_pretrained(folder)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), run.run_dir / "adapter")
    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    assert torch.allclose(logits(merged), logits(with_adapter), atol=1e-5)
    assert not torch.allclose(logits(merged), logits(base), atol=1e-4)  # the adapter did change the model
    assert export.merged(run.run_id) == folder  # made once


def test_run_reference_chats_like_its_merged_model(llama, chat_file, isolated_runs):
    from models import GenerationParams, resolve
    from training import export

    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora"}}, isolated_runs / "chat")
    params = GenerationParams(max_new_tokens=6)
    answer = resolve(f"run:{run.run_id}").chat(Q, params)
    assert isinstance(answer.text, str) and answer.text and answer.completion_tokens == 6
    assert answer.text == resolve(f"hf:{export.merged(run.run_id)}").chat(Q, params).text


def test_a_run_trained_again_is_merged_again(llama, tiny_llama, chat_file, isolated_runs):
    """A resumed or repeated run writes a new adapter; its merged model (and run:<id> as a base) must follow."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from training import export

    spec = {"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora"}}
    run = train(spec, isolated_runs / "again")
    first = logits(AutoModelForCausalLM.from_pretrained(export.merged(run.run_id)))
    train({**spec, "max_steps": 6}, run.run_dir)
    second = logits(AutoModelForCausalLM.from_pretrained(export.merged(run.run_id)))
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), run.run_dir / "adapter")
    assert torch.allclose(second, logits(with_adapter), atol=1e-5)
    assert not torch.allclose(first, second, atol=1e-4)


def test_run_reference_of_a_full_run_chats_from_its_model_folder(llama, chat_file, isolated_runs):
    from models import GenerationParams, resolve
    from training import export

    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "full"}}, isolated_runs / "full")
    assert export.merged(run.run_id) == run.run_dir / "model"
    with pytest.raises(ModelError, match="no adapter"):
        export.adapter_folder(run.run_id)
    assert resolve(f"run:{run.run_id}").chat(Q, GenerationParams(max_new_tokens=4)).text


def test_a_classification_run_cannot_chat_and_says_why(llama, classify_files, isolated_runs):
    from models import resolve

    run = train({"dataset": str(classify_files[0]), "task": "classification", "base_model": llama,
                 "method": {"name": "lora"}, "max_steps": 1}, isolated_runs / "cls")
    with pytest.raises(ModelError) as info:
        resolve(f"run:{run.run_id}")
    message = str(info.value)
    assert f"run:{run.run_id}" in message and "classification head" in message and "cannot chat" in message


def test_a_masked_lm_pretraining_run_cannot_chat_and_says_why(tiny_bert, text_file, isolated_runs):
    from models import resolve

    run = train({"dataset": str(text_file), "task": "pretrain", "base_model": f"hf:{tiny_bert}",
                 "method": {"name": "full"}, "max_steps": 1}, isolated_runs / "mlm")
    with pytest.raises(ModelError, match="masked LM.*cannot chat"):
        resolve(f"run:{run.run_id}")


def test_a_merged_classifier_keeps_every_class_and_its_name(llama, tiny_llama, tmp_path, isolated_runs):
    """Three classes found in the data (no labels in the config): the merged head has three named rows and gives
    the adapter's logits."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    from training import export

    rows = label_rows(9)
    for i, row in enumerate(rows):
        row["meta"]["label"] = ["major", "minor", "none"][i % 3]
    path = write_jsonl(tmp_path / "severity.jsonl", rows)
    run = train({"dataset": str(path), "task": "classification", "base_model": llama, "method": {"name": "lora"}},
                isolated_runs / "severity")
    folder = export.merged(run.run_id)
    merged = AutoModelForSequenceClassification.from_pretrained(folder)
    assert merged.config.id2label == {0: "major", 1: "minor", 2: "none"}
    base = AutoModelForSequenceClassification.from_pretrained(tiny_llama, num_labels=3)
    with_adapter = PeftModel.from_pretrained(base, run.run_dir / "adapter")
    assert torch.allclose(logits(merged), logits(with_adapter), atol=1e-5)


def test_a_merged_regressor_is_a_regression_model(llama, regression_files, isolated_runs):
    from transformers import AutoConfig

    from training import export

    run = train({"dataset": str(regression_files[0]), "task": "regression", "input_field": "smiles",
                 "base_model": llama, "method": {"name": "ia3"}, "max_steps": 1}, isolated_runs / "reg")
    config = AutoConfig.from_pretrained(export.merged(run.run_id))
    assert config.num_labels == 1 and config.problem_type == "regression"


def test_the_model_card_names_method_hyperparameters_and_leaderboard_results(llama, chat_file, isolated_runs):
    import yaml

    import store
    from store.tables import EvalResult
    from training import export

    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora", "rank": 4, "alpha_k": 8}},
                isolated_runs / "card")
    with store.session() as s:
        s.add(EvalResult(model=f"run:{run.run_id}", base_model=llama, method="lora", benchmark="ddi-binary",
                         variant="default", metrics={"accuracy": 0.8125, "f1": 0.75}, items=16, config_hash="abc"))
        s.add(EvalResult(model="builtin:smollm2-135m-instruct", benchmark="ddi-binary", metrics={"accuracy": 0.5},
                         items=16, config_hash="abc"))
    card = export.model_card(run.run_id)
    text = card.read_text()
    front = yaml.safe_load(text.split("---")[1])
    assert front == {"library_name": "peft", "base_model": llama, "tags": ["pharmatune", "lora", "sft"]}
    assert "method lora" in text and "LoRA r=4, alpha=32" in text
    assert f"{run.summary['trainable_params']:,} trainable parameters" in text
    hyper = yaml.safe_load(text.split("```yaml")[1].split("```")[0])
    assert hyper["method"]["rank"] == 4 and hyper["learning_rate"] == 0.01 and hyper["max_steps"] == 3
    assert "- ddi-binary (default, 16 items): accuracy 0.8125, f1 0.75" in text
    assert "accuracy 0.5" not in text  # another model's row
    assert (run.run_dir / "adapter" / "README.md").read_text() == text


def test_a_card_without_results_says_so(llama, chat_file, isolated_runs):
    from training import export

    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "bitfit"}}, isolated_runs / "plain")
    text = export.model_card(run.run_id).read_text()
    assert "library_name: transformers" in text and "method bitfit" in text and "zero-initialised" in text
    assert "validation: none" in text and "- ddi-binary" not in text


def test_push_without_a_token_is_a_clear_error(llama, chat_file, isolated_runs, monkeypatch, capsys):
    from training import export
    from training.__main__ import main

    monkeypatch.delenv("HF_TOKEN", raising=False)
    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora"}, "max_steps": 1},
                isolated_runs / "push")
    with pytest.raises(ModelError, match="needs a token: set HF_TOKEN"):
        export.push(run.run_id, "me/my-model")
    assert main(["export", run.run_id, "push", "--repo", "me/my-model"]) == 2
    assert "HF_TOKEN" in capsys.readouterr().err


def test_an_unknown_run_is_named(isolated_runs):
    from training import export

    with pytest.raises(ModelError, match="run:nope: no training run with that id"):
        export.merged("nope")


@pytest.mark.slow
def test_lora_on_the_builtin_model_trains_and_merges(builtin_folder, tmp_path, isolated_runs):
    """The GGUF-derived base: two LoRA steps, then a merged standalone model that loads and matches base + adapter."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.training.conftest import chat_rows
    from training import export

    path = write_jsonl(tmp_path / "chat.jsonl", chat_rows(2))
    run = train({"dataset": str(path), "base_model": "builtin:smollm2-135m-instruct",
                 "method": {"name": "lora", "rank": 4}, "max_steps": 2, "batch_size": 1, "max_length": 64,
                 "learning_rate": 1e-3}, isolated_runs / "builtin-lora")
    assert run.summary["steps"] == 2 and run.of("setup")[0]["base_folder"] == str(builtin_folder)
    folder = export.merged(run.run_id)
    assert (folder / "model.safetensors").is_file() and not (folder / "adapter_config.json").exists()
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer.apply_chat_template(Q, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    merged = logits(AutoModelForCausalLM.from_pretrained(folder), ids)
    base = AutoModelForCausalLM.from_pretrained(builtin_folder)
    before = logits(base, ids)
    with_adapter = logits(PeftModel.from_pretrained(base, run.run_dir / "adapter"), ids)
    # 30 layers in float32: merged and unmerged sums differ by rounding only (~1e-4 on logits up to ~40)
    assert torch.allclose(merged, with_adapter, atol=1e-3)
    assert torch.equal(merged.argmax(-1), with_adapter.argmax(-1))
    assert (merged - before).abs().max() > 1e-2  # two steps did move the model
