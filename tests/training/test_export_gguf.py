"""GGUF export of a run (python -m training export RUN_ID gguf): a LoRA run is merged and written as a GGUF that
loads back with transformers and answers like the merged model, with a Modelfile whose SYSTEM is the data's system
prompt and the file's size and sha256 in the model card; heads that do not write text are refused before any
merge; the CLI prints where it wrote and the size."""
from __future__ import annotations

import hashlib

import pytest
import torch

from models.errors import ModelError
from tests.training.conftest import CHAT, label_rows, train, write_jsonl

SYSTEM = "You are a pharmacology assistant. Answer in one sentence."


@pytest.fixture
def system_chat_file(tmp_path):
    rows = [{"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q},
                          {"role": "assistant", "content": a}]} for q, a in CHAT]
    rows[0]["messages"][0]["content"] = "Another system prompt."
    return write_jsonl(tmp_path / "with-system.jsonl", rows)


def test_a_lora_run_exports_a_gguf_that_answers_like_its_merged_model(llama, system_chat_file, isolated_runs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training import export

    run = train({"dataset": str(system_chat_file), "base_model": llama, "method": {"name": "lora", "rank": 4}},
                isolated_runs / "gguf-lora")
    result = export.gguf(run.run_id, "f16")
    folder = run.run_dir / "gguf"
    assert result.path == folder / "gguf-lora-F16.gguf" and result.path.is_file()
    assert (run.run_dir / "merged" / "model.safetensors").is_file()  # merged once on the way
    merged_dir = run.run_dir / "merged"
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=result.path.name, dtype=torch.float32).eval()
    for question, _ in CHAT[:3]:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)["input_ids"]
        with torch.no_grad():
            want = merged.generate(ids, generation_config=merged.generation_config, max_new_tokens=10, do_sample=False)
            got = loaded.generate(ids, generation_config=merged.generation_config, max_new_tokens=10, do_sample=False)
        assert got.tolist() == want.tolist(), question

    modelfile = (folder / "Modelfile").read_text()
    assert "FROM ./gguf-lora-F16.gguf" in modelfile and f'SYSTEM """{SYSTEM}"""' in modelfile
    assert any("2 different system prompts" in note and "7 of 8 records" in note for note in result.notes)

    card = (run.run_dir / "README.md").read_text()
    digest = hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert result.sha256 == digest
    assert f"`gguf/gguf-lora-F16.gguf`: f16, {result.bytes / 2**20:.1f} MiB ({result.bytes:,} bytes), sha256 `{digest}`" in card
    assert (folder / "README.md").read_text() == card  # the gguf folder is self-contained to hand out

    second = export.gguf(run.run_id, "q8_0")
    card = (run.run_dir / "README.md").read_text()
    assert "gguf-lora-F16.gguf" in card and "`gguf/gguf-lora-Q8_0.gguf`: q8_0" in card and second.sha256 in card
    assert "FROM ./gguf-lora-Q8_0.gguf" in (folder / "Modelfile").read_text()  # the latest export
    result.path.unlink()
    assert "gguf-lora-F16.gguf" not in export.model_card(run.run_id).read_text()  # a deleted file is not listed


def test_a_classification_run_is_refused_before_any_merge(llama, tmp_path, isolated_runs):
    from training import export

    run = train({"dataset": str(write_jsonl(tmp_path / "cls.jsonl", label_rows(8))), "task": "classification",
                 "base_model": llama, "method": {"name": "lora"}, "max_steps": 1}, isolated_runs / "cls")
    with pytest.raises(ModelError) as info:
        export.gguf(run.run_id, "q8_0")
    message = str(info.value)
    assert f"run:{run.run_id} trained a classification head" in message and "cannot be exported to GGUF" in message
    assert not (run.run_dir / "merged").exists() and not (run.run_dir / "gguf").exists()


def test_a_masked_lm_run_is_refused_naming_its_architecture(tiny_bert, text_file, isolated_runs):
    from training import export

    run = train({"dataset": str(text_file), "task": "pretrain", "base_model": f"hf:{tiny_bert}",
                 "method": {"name": "full"}, "max_steps": 1}, isolated_runs / "mlm")
    with pytest.raises(ModelError, match=r"run:mlm is a masked LM \(BertForMaskedLM\).*GGUF export supports"):
        export.gguf(run.run_id)


def test_the_cli_exports_prints_where_and_how_big_and_refuses_bad_quantisations(llama, chat_file, isolated_runs,
                                                                                 capsys):
    from models import gguf_export
    from training.__main__ import main

    run = train({"dataset": str(chat_file), "base_model": llama, "method": {"name": "lora"}, "max_steps": 1},
                isolated_runs / "cli")
    assert main(["export", run.run_id, "gguf", "--quant", "q8_0"]) == 0
    out = capsys.readouterr().out
    path = run.run_dir / "gguf" / "cli-Q8_0.gguf"
    assert path.is_file() and f"Wrote {path} (" in out and " MiB, q8_0, sha256 " in out and "Modelfile" in out
    assert main(["export", run.run_id, "gguf", "--quant", "q8"]) == 2
    assert "Did you mean q8_0" in capsys.readouterr().err
    if not gguf_export.can_write("Q4_K"):
        assert main(["export", run.run_id, "gguf", "--quant", "q4_k"]) == 2
        assert "no quantiser" in capsys.readouterr().err
