"""README: `trust_remote_code` is off unless PHARMATUNE_TRUST_REMOTE_CODE=1.

A local model folder whose config.json maps the Auto classes to a .py file beside it ("remote code"): that file
writes a marker when it is imported, so the test sees whether loading the folder executed it.
"""
import json
import shutil

import pytest

from models import GenerationParams, ModelError, resolve

CUSTOM_CODE = '''
from pathlib import Path

Path({marker!r}).write_text("the folder's own code ran")

from transformers import LlamaConfig, LlamaForCausalLM


class CustomConfig(LlamaConfig):
    model_type = {model_type!r}


class CustomModel(LlamaForCausalLM):
    config_class = CustomConfig
'''


def custom_code_folder(tiny_llama, tmp_path, model_type: str):
    # A fresh folder name per test: transformers names the imported module after the folder, so no earlier
    # import can be reused.
    folder = tmp_path / f"custom_{model_type.replace('-', '_')}"
    shutil.copytree(tiny_llama, folder)
    marker = tmp_path / "remote-code-ran"
    (folder / "custom_llama.py").write_text(CUSTOM_CODE.format(marker=str(marker), model_type=model_type))
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type=model_type, architectures=["CustomModel"],
                  auto_map={"AutoConfig": "custom_llama.CustomConfig",
                            "AutoModelForCausalLM": "custom_llama.CustomModel"})
    (folder / "config.json").write_text(json.dumps(config))
    return folder, marker


def test_a_folder_that_needs_its_own_code_is_refused_without_running_it(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.delenv("PHARMATUNE_TRUST_REMOTE_CODE", raising=False)
    folder, marker = custom_code_folder(tiny_llama, tmp_path, "pharmatune-custom")
    with pytest.raises(ModelError, match="contains custom code which must be executed"):
        resolve(f"hf:{folder}")
    assert not marker.exists()


def test_a_folder_transformers_knows_loads_with_transformers_code_not_its_own(tiny_llama, tmp_path, monkeypatch):
    # model_type "llama" is built into transformers, so the folder loads without trusting it, and its .py stays unrun.
    monkeypatch.setenv("PHARMATUNE_TRUST_REMOTE_CODE", "0")
    folder, marker = custom_code_folder(tiny_llama, tmp_path, "llama")
    model = resolve(f"hf:{folder}")
    assert type(model.model).__name__ == "LlamaForCausalLM"
    assert model.chat([{"role": "user", "content": "Aspirin?"}], GenerationParams(max_new_tokens=3)).completion_tokens == 3
    assert not marker.exists()


def test_with_the_variable_set_the_folders_code_runs(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_TRUST_REMOTE_CODE", "1")
    folder, marker = custom_code_folder(tiny_llama, tmp_path, "pharmatune-custom")
    model = resolve(f"hf:{folder}")
    assert marker.read_text() == "the folder's own code ran"
    assert type(model.model).__name__ == "CustomModel"
    assert model.chat([{"role": "user", "content": "Aspirin?"}], GenerationParams(max_new_tokens=3)).completion_tokens == 3
