"""GGUF export: what is written loads back with transformers (gguf_file=) and reproduces the source model (F16:
weights equal to the source rounded to float16 and the same greedy output; Q8_0: close logits), carries the
tokenizer and chat template, comes with an Ollama Modelfile, refuses what llama.cpp cannot run, and never leaves a
half-written file when the disk fills. On a tiny random Llama with a real byte-level BPE tokenizer, and (slow) on
the builtin SmolLM2."""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models import gguf_export
from models.errors import ModelError
from tests.conftest import ROOT

PROMPTS = ["Does warfarin interact with fluconazole?", "What does aspirin inhibit?",
           "Is metformin first-line for type 2 diabetes?"]


@pytest.fixture(autouse=True)
def one_compute_thread():
    """Tiny matrices gain nothing from a second thread (and a busy 2-core machine makes each handoff slow)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def load(folder: Path, name: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=name, dtype=torch.float32)
    return model.eval(), AutoTokenizer.from_pretrained(str(folder), gguf_file=name)


def source(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return (AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval(),
            AutoTokenizer.from_pretrained(str(folder)))


def chat_ids(tokenizer, question: str):
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True)["input_ids"]


def greedy(model, ids, generation_config, n: int):
    with torch.no_grad():
        out = model.generate(ids, generation_config=generation_config, max_new_tokens=n, do_sample=False)
    return out[0, ids.shape[1]:].tolist()


def metadata(path: Path) -> dict:
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    fields = {}
    for key, value in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        fields[key] = value.contents()
    fields["tensor_types"] = {t.name: t.tensor_type.name for t in reader.tensors}
    return fields


@pytest.fixture(scope="module")
def exported(tiny_llama, tmp_path_factory) -> dict:
    """The tiny Llama exported once per quantisation: quant → GGUFExport."""
    out = tmp_path_factory.mktemp("gguf")
    return {q: gguf_export.export(tiny_llama, out / q / gguf_export.file_name("tiny", q), quant_name=q, name="hf:tiny",
                                  system="You answer drug questions." if q == "f16" else None)
            for q in gguf_export.available()}


def test_f16_loads_back_with_the_source_weights_tokenizer_and_greedy_output(tiny_llama, exported):
    result = exported["f16"]
    assert result.path.name == "tiny-F16.gguf" and result.path.is_file() and result.bytes == result.path.stat().st_size
    model, tokenizer = load(result.path.parent, result.path.name)
    src, src_tokenizer = source(tiny_llama)
    ours, theirs = model.state_dict(), src.state_dict()
    assert set(ours) == set(theirs)
    for name, tensor in theirs.items():
        rounded = tensor if tensor.ndim == 1 else tensor.half().float()  # norms stay float32 in the file
        assert torch.equal(ours[name], rounded), name  # q/k un-permuted by transformers to exactly the source
    for question in PROMPTS:
        ids = chat_ids(src_tokenizer, question)
        assert torch.equal(chat_ids(tokenizer, question), ids)
        assert greedy(model, ids, src.generation_config, 12) == greedy(src, ids, src.generation_config, 12)
    text = "Warfarin interacts with fluconazole because fluconazole inhibits CYP2C9 (10 mg, 2x)."
    assert tokenizer(text).input_ids == src_tokenizer(text).input_ids
    assert tokenizer.decode(tokenizer(text).input_ids) == text
    assert tokenizer.chat_template == src_tokenizer.chat_template
    for special in ("bos_token", "eos_token", "pad_token", "unk_token"):
        assert getattr(tokenizer, special) == getattr(src_tokenizer, special), special


@pytest.mark.parametrize("quant_name,dtype", [("f32", None), ("bf16", torch.bfloat16)])
def test_f32_is_lossless_and_bf16_is_the_bfloat16_rounding(tiny_llama, exported, quant_name, dtype):
    result = exported[quant_name]
    model, _ = load(result.path.parent, result.path.name)
    src, _ = source(tiny_llama)
    ours = model.state_dict()
    for name, tensor in src.state_dict().items():
        expected = tensor if dtype is None or tensor.ndim == 1 else tensor.to(dtype).float()
        assert torch.equal(ours[name], expected), name


@pytest.mark.parametrize("quant_name,max_error,agreement", [("q8_0", 0.02, 0.97), ("q4_1", 0.3, 0.6)])
def test_quantised_files_give_close_logits(tiny_llama, exported, quant_name, max_error, agreement):
    """Q8_0 moves the tiny model's logits (spread about ±1.5) by well under 0.02 and keeps nearly every argmax."""
    result = exported[quant_name]
    model, tokenizer = load(result.path.parent, result.path.name)
    src, src_tokenizer = source(tiny_llama)
    ids = torch.cat([chat_ids(src_tokenizer, q) for q in PROMPTS], dim=1)
    with torch.no_grad():
        got, expected = model(ids).logits, src(ids).logits
    assert (got - expected).abs().max() < max_error * expected.abs().max()
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean() >= agreement
    assert torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), dim=0) > 0.99


def test_the_file_carries_llama_metadata_the_tokenizer_and_the_chat_template(tiny_llama, exported):
    from gguf import TokenType
    from transformers import AutoConfig, AutoTokenizer

    config, tokenizer = AutoConfig.from_pretrained(tiny_llama), AutoTokenizer.from_pretrained(tiny_llama)
    fields = metadata(exported["q8_0"].path)
    assert fields["general.architecture"] == "llama" and fields["general.file_type"] == 7  # MOSTLY_Q8_0
    assert fields["llama.block_count"] == 2 and fields["llama.embedding_length"] == 32
    assert fields["llama.attention.head_count"] == 4 and fields["llama.attention.head_count_kv"] == 2
    assert fields["llama.rope.dimension_count"] == 8 and fields["llama.vocab_size"] == config.vocab_size
    assert fields["tokenizer.ggml.model"] == "gpt2" and fields["tokenizer.ggml.pre"] == "gpt-2"
    tokens = fields["tokenizer.ggml.tokens"]
    assert len(tokens) == config.vocab_size and tokens[tokenizer.eos_token_id] == "<|im_end|>"
    types = fields["tokenizer.ggml.token_type"]
    assert [types[tokenizer.convert_tokens_to_ids(t)] for t in ("<|im_start|>", "<|im_end|>")] == [TokenType.CONTROL] * 2
    piece = tokenizer.tokenize(" warfarin")[0]
    assert types[tokenizer.convert_tokens_to_ids(piece)] == TokenType.NORMAL and piece.startswith("Ġ")
    assert len(fields["tokenizer.ggml.merges"]) > 100
    assert fields["tokenizer.ggml.bos_token_id"] == tokenizer.bos_token_id
    assert fields["tokenizer.ggml.eos_token_id"] == tokenizer.eos_token_id
    assert fields["tokenizer.ggml.padding_token_id"] == tokenizer.pad_token_id
    assert fields["tokenizer.ggml.add_bos_token"] is False
    assert fields["tokenizer.chat_template"] == tokenizer.chat_template
    kinds = fields["tensor_types"]
    assert kinds["blk.0.attn_q.weight"] == "Q8_0" and kinds["token_embd.weight"] == "Q8_0"
    assert kinds["blk.0.attn_norm.weight"] == "F32" and kinds["output.weight"] == "Q8_0"  # not tied: its own output
    assert metadata(exported["q4_1"].path)["tensor_types"]["blk.1.ffn_down.weight"] == "Q4_1"
    assert metadata(exported["q4_1"].path)["tensor_types"]["token_embd.weight"] == "Q8_0"


def test_progress_is_reported_per_tensor_and_the_result_summarises(tiny_llama, tmp_path):
    (tmp_path / f".m.gguf.partial-{2**22 + 1}").write_bytes(b"GGUF half")  # left by an export that was killed
    seen = []
    result = gguf_export.export(tiny_llama, tmp_path / "m.gguf", quant_name="f16",
                                progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == result.tensors == len(seen)
    assert str(result.path) in result.summary() and "MiB" in result.summary()
    import hashlib

    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Modelfile", "m.gguf"]


def test_the_modelfile_points_at_the_file_with_a_chatml_template_stops_and_the_system_prompt(tiny_llama, exported):
    from transformers import AutoTokenizer

    result = exported["f16"]
    text = result.modelfile.read_text()
    assert result.modelfile == result.path.with_name("Modelfile")
    assert "FROM ./tiny-F16.gguf\n" in text
    assert 'SYSTEM """You answer drug questions."""' in text
    assert 'PARAMETER stop "<|im_start|>"' in text and 'PARAMETER stop "<|im_end|>"' in text
    template = text.split('TEMPLATE """')[1].split('"""')[0]
    assert "{{ range $i, $m := .Messages }}" in template and "{{ .System }}" in template
    go, default, why = gguf_export.ollama_template(AutoTokenizer.from_pretrained(tiny_llama),
                                                   AutoTokenizer.from_pretrained(tiny_llama).chat_template)
    assert go == template and default is None and not why


@pytest.mark.slow
def test_the_ollama_template_of_smollm2_keeps_its_default_system_prompt(builtin_folder):
    """The builtin template writes 'You are a helpful AI assistant named SmolLM…' when no system message comes."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(builtin_folder)
    go, default, why = gguf_export.ollama_template(tokenizer, tokenizer.chat_template)
    assert not why and default == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    assert f"{{{{ else }}}}<|im_start|>system\n{default}<|im_end|>\n{{{{ end }}}}" in go
    conversation = [{"role": "user", "content": "Hi"}]
    assert gguf_export.render_chatml(conversation, default) == tokenizer.apply_chat_template(
        conversation, tokenize=False, add_generation_prompt=True)


def test_a_template_that_is_not_chatml_gets_no_ollama_template(tiny_llama):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    zephyr = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}<|assistant|>\n"
    go, _, why = gguf_export.ollama_template(tokenizer, zephyr)
    assert go is None and "not ChatML" in why
    tokenizer.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] | upper }}\n{{ m['content'] }}"
                               "<|im_end|>\n{% endfor %}<|im_start|>assistant\n")
    go, _, why = gguf_export.ollama_template(tokenizer, tokenizer.chat_template)
    assert go is None and "differs from plain ChatML" in why
    text = gguf_export.modelfile_text("m-F16.gguf", template=None, stops=["<|im_end|>"], system=None, what="x",
                                      note=why)
    assert not any(line.startswith("TEMPLATE") for line in text.splitlines())
    assert "# No TEMPLATE: its chat template differs" in text


def test_quantisation_names_are_checked_and_q4_k_is_refused_with_the_reason():
    assert {"f16", "q8_0", "q4_1", "bf16", "f32"} <= set(gguf_export.available())
    assert gguf_export.quant("Q8_0").name == "q8_0" and gguf_export.quant("fp16").name == "f16"
    with pytest.raises(ModelError, match="Did you mean q8_0"):
        gguf_export.quant("q8")
    if gguf_export.can_write("Q4_K"):  # a later gguf package: offered, no refusal
        assert gguf_export.quant("q4_k_m").name == "q4_k"
        return
    assert "q4_k" not in gguf_export.available()
    with pytest.raises(ModelError, match=r"gguf package \(.*\) can read Q4_K but has no quantiser.*llama-quantize"):
        gguf_export.quant("q4_k_m")


def write_config(folder: Path, **config) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("config,words", [
    ({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}, "is a gpt2 model"),
    ({"model_type": "llama", "architectures": ["LlamaForSequenceClassification"]}, "sequence-classification head"),
    ({"model_type": "bert", "architectures": ["BertForMaskedLM"]}, "is a masked LM"),
    ({"model_type": "llama", "architectures": ["LlamaForCausalLM"],
      "rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5}}, "'llama3' RoPE scaling"),
    ({"model_type": "mistral", "architectures": ["MistralForCausalLM"], "sliding_window": 4096,
      "max_position_embeddings": 32768}, "sliding window"),
    ({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "attention_bias": True}, "attention_bias"),
])
def test_unsupported_models_are_refused_before_any_weight_is_read(tmp_path, config, words):
    folder = write_config(tmp_path / "m", **config)
    with pytest.raises(ModelError, match="GGUF|RoPE|sliding|bias") as info:
        gguf_export.export(folder, tmp_path / "out" / "m.gguf")
    assert words in str(info.value) and str(folder) in str(info.value)
    assert not (tmp_path / "out").exists()


def test_a_sentencepiece_style_tokenizer_is_refused(tiny_llama, tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from tests.conftest import CORPUS

    folder = tmp_path / "sp"
    shutil.copytree(tiny_llama, folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink(missing_ok=True)
    raw = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    raw.pre_tokenizer = pre_tokenizers.Metaspace()
    raw.decoder = decoders.Metaspace()
    raw.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<s>", "</s>"]))
    PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>").save_pretrained(folder)
    with pytest.raises(ModelError, match="SentencePiece-style.*byte-level BPE"):
        gguf_export.export(folder, tmp_path / "sp.gguf")
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*partial*"))


def test_a_disk_that_fills_mid_write_leaves_no_half_file_and_keeps_the_previous_one(tiny_llama, tmp_path, monkeypatch):
    from gguf import GGUFWriter

    target = tmp_path / "out" / "tiny-F16.gguf"
    previous = gguf_export.export(tiny_llama, target, quant_name="f16")
    before = target.read_bytes()
    original, calls = GGUFWriter.write_tensor_data, []

    def fills_up(self, tensor, *args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, tensor, *args, **kwargs)

    monkeypatch.setattr(GGUFWriter, "write_tensor_data", fills_up)
    with pytest.raises(ModelError) as info:
        gguf_export.export(tiny_llama, target, quant_name="f16")
    message = str(info.value)
    assert f"The disk holding {target.parent} is full" in message and "the GGUF file tiny-F16.gguf" in message
    assert "the previous tiny-F16.gguf is unchanged" in message
    assert target.read_bytes() == before and previous.sha256
    assert sorted(p.name for p in target.parent.iterdir()) == ["Modelfile", "tiny-F16.gguf"]  # no partial file
    calls.clear()
    fresh = tmp_path / "fresh" / "tiny-F16.gguf"
    with pytest.raises(ModelError, match="nothing was left behind"):
        gguf_export.export(tiny_llama, fresh, quant_name="f16")
    assert list(fresh.parent.iterdir()) == []


def test_too_little_free_space_is_refused_before_writing(tiny_llama, tmp_path, monkeypatch):
    import data.io

    monkeypatch.setattr(data.io, "free_bytes", lambda folder: 1000)
    with pytest.raises(ModelError, match=r"The disk holding .* is full .*MiB needed"):
        gguf_export.export(tiny_llama, tmp_path / "m.gguf", quant_name="f16")
    assert list(tmp_path.iterdir()) == []


FULL_DISK = """
import sys
from pathlib import Path
from models import gguf_export
from models.errors import ModelError

gguf_export._room = lambda target, needed: None  # the real write must meet the full disk, not the pre-check
try:
    gguf_export.export(Path(sys.argv[1]), Path(sys.argv[2]) / "tiny-F32.gguf", quant_name="f32")
except ModelError as exc:
    print(exc)
print("left:", sorted(p.name for p in Path(sys.argv[2]).iterdir()))
"""


@pytest.mark.slow
def test_a_real_full_disk_during_export_is_one_sentence_and_leaves_nothing(tiny_llama, tmp_path):
    """A 64 KiB tmpfs (private mount namespace, as root) cannot hold the 0.2 MiB F32 file."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and util-linux's unshare to mount a small tmpfs privately")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = f"mount -t tmpfs -o size=64k tmpfs {disk} && exec {sys.executable} -c '{FULL_DISK}' {tiny_llama} {disk}"
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"The disk holding {disk} is full" in out.stdout and "nothing was left behind" in out.stdout
    assert "left: []" in out.stdout
    assert "Traceback" not in out.stderr


# --- the builtin model (slow: each GGUF load dequantises 134.5 M weights in numpy, ~15-35 s on 2 cores) -------

@pytest.fixture(scope="module")
def builtin_source(builtin_folder):
    return source(builtin_folder)


@pytest.fixture
def one_parse_per_file(monkeypatch):
    """transformers parses a GGUF file three times to load a model and its tokenizer (and metadata() once more),
    about 3.5 s each for the builtin model's 260 MB: here each file is parsed once and the reader reused (it only
    reads, through a memory map)."""
    import gguf

    real, parsed = gguf.GGUFReader, {}

    def reader(path, mode="r"):
        key = (str(Path(path).resolve()), mode)
        if key not in parsed:
            parsed[key] = real(path, mode)
        return parsed[key]

    monkeypatch.setattr(gguf, "GGUFReader", reader)


@pytest.mark.slow
def test_the_builtin_model_as_f16_reproduces_its_greedy_answers(builtin_folder, builtin_source, tmp_path,
                                                               one_parse_per_file):
    result = gguf_export.export_reference("builtin:smollm2-135m-instruct", tmp_path, quant_name="f16")
    assert result.path.name == "smollm2-135m-instruct-F16.gguf" and 250 * 2**20 < result.bytes < 270 * 2**20
    fields = metadata(result.path)
    assert fields["tokenizer.ggml.pre"] == "smollm" and len(fields["tokenizer.ggml.tokens"]) == 49152
    assert fields["llama.block_count"] == 30 and fields["llama.attention.head_count_kv"] == 3
    assert "output.weight" not in fields["tensor_types"]  # tied embeddings: llama.cpp reuses token_embd
    model, tokenizer = load(tmp_path, result.path.name)
    src, src_tokenizer = builtin_source
    for question in PROMPTS:
        ids = chat_ids(src_tokenizer, question)
        assert torch.equal(chat_ids(tokenizer, question), ids)
        assert greedy(model, ids, src.generation_config, 16) == greedy(src, ids, src.generation_config, 16), question
    modelfile = result.modelfile.read_text()
    assert "FROM ./smollm2-135m-instruct-F16.gguf" in modelfile and "named SmolLM" in modelfile


@pytest.mark.slow
def test_the_builtin_model_as_q8_0_gives_close_logits(builtin_folder, builtin_source, tmp_path, one_parse_per_file):
    """Measured: logits up to ~39 move by at most ~1.4; argmax agrees at 94-97 % of positions."""
    result = gguf_export.export_reference("builtin:smollm2-135m-instruct", tmp_path, quant_name="q8_0")
    assert 130 * 2**20 < result.bytes < 145 * 2**20
    model, _ = load(tmp_path, result.path.name)
    src, src_tokenizer = builtin_source
    ids = torch.cat([chat_ids(src_tokenizer, q) for q in PROMPTS], dim=1)
    with torch.no_grad():
        got, expected = model(ids).logits, src(ids).logits
    assert (got - expected).abs().max() < 0.08 * expected.abs().max()
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean() >= 0.9
    assert torch.nn.functional.cosine_similarity(got[0, -1], expected[0, -1], dim=0) > 0.999
