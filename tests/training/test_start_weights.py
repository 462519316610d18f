"""The training tests' `before` (tests/training/conftest.py) is the base model's file on disk, not a copy taken after
the method was applied: a method that changed a base weight while applying itself must fail the "base weights
untouched" contract that test_methods.py checks."""
from __future__ import annotations

import pytest
import torch

from tests.training.conftest import train


def test_a_base_weight_changed_while_applying_the_method_no_longer_counts_as_untouched(llama, tiny_llama, chat_file,
                                                                                         isolated_runs, monkeypatch):
    from safetensors.torch import load_file

    from training.methods import lora

    real_apply = lora.apply
    name = "base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight"

    def apply_and_scale_a_base_weight(model, cfg, task):  # a broken method: the base's q_proj doubles at apply
        model, notes = real_apply(model, cfg, task)
        with torch.no_grad():
            dict(model.named_parameters())[name].mul_(2.0)
        return model, notes

    monkeypatch.setattr(lora, "apply", apply_and_scale_a_base_weight)
    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora", "rank": 4}},
                isolated_runs / "broken-lora", capture=True)
    after = run.after()
    on_disk = load_file(str(tiny_llama / "model.safetensors"))["model.layers.0.self_attn.q_proj.weight"]
    assert torch.equal(run.before[name], on_disk)
    assert torch.equal(after[name], 2.0 * on_disk)  # frozen during training, so still the doubled weight
    assert not torch.equal(after[name], run.before[name])  # the contract's comparison catches it ...
    assert torch.equal(after[name], run.loaded[name])  # ... which a snapshot taken after apply would not


def test_every_base_weight_of_an_adapter_run_is_compared_with_the_file(llama, tiny_llama, chat_file, isolated_runs):
    from safetensors.torch import load_file

    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora", "rank": 4}},
                isolated_runs / "lora", capture=True)
    stored = load_file(str(tiny_llama / "model.safetensors"))
    base = {n for n in run.before if "lora_" not in n}
    assert run.from_disk == base and len(base) == len(stored)  # each base tensor of the file, none left to memory
    for n in base:
        key = n.removeprefix("base_model.model.").replace(".base_layer.", ".")
        assert torch.equal(run.before[n], stored[key]), n


@pytest.mark.parametrize("task, method", [("regression", "bitfit"), ("regression", "lora")])
def test_only_what_the_task_or_method_adds_is_left_to_the_in_memory_copy(tiny_bert, regression_files, isolated_runs,
                                                                           task, method):
    run = train({"dataset": str(regression_files[0]), "task": task, "input_field": "smiles",
                 "base_model": f"hf:{tiny_bert}", "method": {"name": method}}, isolated_runs / method, capture=True)
    new = {n.removeprefix("base_model.model.").replace(".base_layer.", ".") for n in set(run.before) - run.from_disk}
    # BertForMaskedLM (the file) has no pooler and no regression head: those start random, as does LoRA
    fresh = {"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"}
    if method == "bitfit":
        assert new == fresh
    else:
        assert {n for n in new if "lora_" not in n and "modules_to_save" not in n and "original_module" not in n} \
            == {"bert.pooler.dense.weight", "bert.pooler.dense.bias"}
