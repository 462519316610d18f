"""GGUF export for llama.cpp and Ollama: a Llama-family causal LM folder written as one .gguf file with the `gguf`
package (metadata, byte-level BPE tokenizer, chat template, weights in F32/F16/BF16/Q8_0/Q4_1), and an Ollama
Modelfile beside it.

What is supported, and why the rest is refused (a ModelError naming the reason):
- architectures: LlamaForCausalLM (SmolLM2, TinyLlama-style configs, Llama 2/3 without RoPE scaling) and
  MistralForCausalLM without a sliding window (llama.cpp runs both as `llama`). Other architectures need their own
  tensor layout and metadata; sequence-classification and masked-LM heads predict classes, numbers or masked
  tokens, which llama.cpp and Ollama do not run.
- tokenizers: byte-level BPE (GPT-2 style: SmolLM2, Llama 3, Qwen 2), written as llama.cpp's `gpt2` model with
  its pre-tokenizer name. SentencePiece-style vocabularies (Llama 2's Metaspace/byte-fallback BPE) are refused.
- Q/K weights are permuted as llama.cpp expects (its rotary embedding pairs adjacent dimensions, transformers
  pairs the two halves of each head); transformers' GGUF loader undoes exactly this, so a file round-trips.
- quantisations: those the installed `gguf` package can write. Q4_K is offered only if the package can quantise
  it (gguf 0.19 can only dequantise K-quants); llama.cpp's `llama-quantize` can turn the f16 file into Q4_K_M.

The file is written under a temporary name in the target folder and renamed into place when complete, so a full
disk (or a crash) never leaves a half-written .gguf under the real name; a full disk is one sentence naming the
folder. Export loads the model in float32 (about 4 bytes per parameter of memory) and writes tensor by tensor.

The tokenizer fields come from models.gguf_vocab and the Modelfile from models.gguf_modelfile; their public names
are re-exported here.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from models.errors import ModelError
from models.gguf_modelfile import MODELFILE, modelfile_text, ollama_template, render_chatml, write_modelfile
from models.gguf_vocab import SUPPORTED, Vocab, looks_special, vocab

# re-exported: training.export and the tests use these names here
__all__ = ["DEFAULT_QUANT", "GGUFExport", "MODELFILE", "QUANTS", "SUPPORTED", "Quant", "Vocab", "available", "can_write",
           "check", "export", "export_reference", "file_name", "looks_special", "modelfile_text", "ollama_template",
           "permute", "quant", "refusal_for_head", "render_chatml", "vocab", "write_modelfile"]

# A causal-LM class is the only kind of head llama.cpp and Ollama run; these model types map to llama.cpp's `llama`.
ARCHITECTURES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM"}


@dataclass(frozen=True)
class Quant:
    name: str  # what the CLI and the UI call it
    matrix: str  # GGML type of 2-D weights
    embedding: str  # GGML type of token_embd / output (the tied output projection is precision-sensitive)
    fallback: str  # for a matrix whose rows are not a whole number of blocks
    file_type: str  # gguf.LlamaFileType member
    about: str


QUANTS = {q.name: q for q in [
    Quant("f16", "F16", "F16", "F16", "MOSTLY_F16", "16-bit floats: the model as trained, 2 bytes per weight"),
    Quant("q8_0", "Q8_0", "Q8_0", "F16", "MOSTLY_Q8_0",
          "8-bit blocks: about half of F16, outputs very close to it (llama.cpp's usual 'q8_0')"),
    Quant("q4_k", "Q4_K", "Q8_0", "Q5_0", "MOSTLY_Q4_K_M",
          "4-bit K-quant (rows that are not multiples of 256 in Q5_0, embeddings in Q8_0)"),
    Quant("q4_1", "Q4_1", "Q8_0", "F16", "MOSTLY_Q4_1",
          "4-bit blocks with a minimum (embeddings in Q8_0): about a third of F16; lossless for the builtin model, "
          "whose weights are Q4_1 already, lossy for weights training moved"),
    Quant("bf16", "BF16", "BF16", "BF16", "MOSTLY_BF16", "bfloat16: same size as F16, the range of float32"),
    Quant("f32", "F32", "F32", "F32", "ALL_F32", "32-bit floats: lossless, 4 bytes per weight"),
]}
DEFAULT_QUANT = "q8_0"


def can_write(ggml_type: str) -> bool:
    """Whether the installed gguf package can quantise to this type (it dequantises more types than it writes)."""
    import numpy as np
    from gguf import GGMLQuantizationType, quants

    qtype = GGMLQuantizationType[ggml_type]
    if qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
        return True
    block = quants.GGML_QUANT_SIZES[qtype][0]
    try:
        quants.quantize(np.zeros((1, block), dtype=np.float32), qtype)
    except (NotImplementedError, quants.QuantError, KeyError):
        return False
    return True


def available() -> dict[str, str]:
    """The quantisations this machine can write, name → one line about it (for the CLI and the UI's dropdown)."""
    return {q.name: q.about for q in QUANTS.values() if all(can_write(t) for t in {q.matrix, q.embedding, q.fallback})}


def quant(name: str) -> Quant:
    key = (name or "").strip().lower().replace("-", "_")
    key = {"q4_k_m": "q4_k", "fp16": "f16", "float16": "f16", "float32": "f32", "fp32": "f32"}.get(key, key)
    usable = available()
    if key in usable:
        return QUANTS[key]
    if key in QUANTS:
        from importlib.metadata import version

        raise ModelError(f"GGUF {QUANTS[key].matrix} cannot be written here: the installed gguf package "
                         f"({version('gguf')}) can read {QUANTS[key].matrix} but has no "
                         f"quantiser for it. Export f16 and run llama.cpp's llama-quantize on it, or pick one of: "
                         + ", ".join(usable) + ".")
    from difflib import get_close_matches

    close = get_close_matches(key, usable, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise ModelError(f"{name!r} is not a GGUF quantisation this exporter writes.{hint} Choose one of: "
                     + ", ".join(usable) + ".")


@dataclass
class GGUFExport:
    """What an export wrote: the file, its Modelfile, and what the model card and the UI show."""
    path: Path
    quant: str
    bytes: int
    sha256: str
    seconds: float
    modelfile: Path | None = None
    tensors: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        where = f" and {self.modelfile.name}" if self.modelfile else ""
        return (f"Wrote {self.path} ({self.bytes / 2**20:.1f} MiB, {self.quant}, sha256 {self.sha256[:12]}…){where} "
                f"in {self.seconds:.1f} s.")

    def to_dict(self) -> dict:
        return {"file": self.path.name, "quant": self.quant, "bytes": self.bytes, "sha256": self.sha256,
                "seconds": round(self.seconds, 2), "tensors": self.tensors, "notes": self.notes}


# --- checks (config only: fast, before any weight is read) -----------------------------------------------------

def check(folder: Path, *, what: str | None = None) -> dict:
    """The model's config.json as a dict, or a ModelError naming why this folder cannot become a GGUF."""
    what = what or str(folder)
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{what}: cannot read {path} ({type(exc).__name__}), so it is not a model folder to export.") \
            from None
    model_type = config.get("model_type")
    architectures = config.get("architectures") or []
    if architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in architectures):
        head = architectures[0]
        kind = (f"has a sequence-classification head ({head}), which predicts a class or a number"
                if "SequenceClassification" in head else
                f"is a masked LM ({head}), which fills in masked tokens" if "MaskedLM" in head else
                f"is a {head} (not a ...ForCausalLM model), which computes features")
        raise ModelError(f"{what} {kind} rather than generating text, and GGUF runtimes (llama.cpp, Ollama) only run "
                         f"text generation models. GGUF export supports {SUPPORTED}.")
    if model_type not in ARCHITECTURES:
        raise ModelError(f"{what} is a {model_type or 'model of unknown type'} model "
                         f"({', '.join(architectures) or 'no architectures in config.json'}); GGUF export supports "
                         f"{SUPPORTED}. Other architectures need their own tensor layout in llama.cpp.")
    if model_type == "mistral" and config.get("sliding_window") not in (None, 0) \
            and config["sliding_window"] < config.get("max_position_embeddings", 0):
        raise ModelError(f"{what} is a Mistral model with a {config['sliding_window']}-token sliding window, which "
                         "llama.cpp's llama architecture does not apply; GGUF export supports Mistral only without one.")
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    rope_type = rope.get("rope_type") or rope.get("type") or "default"
    if rope_type != "default":
        raise ModelError(f"{what} uses {rope_type!r} RoPE scaling; GGUF export writes unscaled RoPE only (scaled "
                         "variants need extra llama.cpp metadata that cannot be checked by reading the file back).")
    for flag in ("attention_bias", "mlp_bias"):
        if config.get(flag):
            raise ModelError(f"{what} has {flag}: true; GGUF export of a Llama model writes bias-free layers only.")
    return config


# --- weights ---------------------------------------------------------------------------------------------------

def permute(weights, n_head: int, n_head_kv: int | None = None):
    """q_proj/k_proj rows from transformers' rotary layout (halves) to llama.cpp's (interleaved pairs), per head."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    shape = weights.shape
    return weights.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


@dataclass
class _Tensor:
    name: str  # GGUF name
    source: str  # state-dict key
    shape: tuple[int, ...]
    ggml_type: str


def _plan(state: dict, config: dict, q: Quant, notes: list[str], what: str) -> list[_Tensor]:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, MODEL_ARCH, get_tensor_name_map

    names = get_tensor_name_map(MODEL_ARCH.LLAMA, int(config["num_hidden_layers"]))
    tied = config.get("tie_word_embeddings", False)
    plan, fell_back = [], []
    for key, tensor in state.items():
        if key.endswith("rotary_emb.inv_freq") or (tied and key == "lm_head.weight"):
            continue
        base, dot, suffix = key.rpartition(".")
        mapped = names.get_name(base) if dot else None
        if mapped is None:
            raise ModelError(f"{what}: its weight {key} has no place in llama.cpp's llama layout, so the model is not a "
                             f"plain Llama; GGUF export supports {SUPPORTED}.")
        name = f"{mapped}.{suffix}"
        shape = tuple(tensor.shape)
        if len(shape) == 1:
            kind = "F32"
        else:
            kind = q.embedding if mapped in ("token_embd", "output") else q.matrix
            for candidate in (kind, q.fallback, "F16"):
                if shape[-1] % GGML_QUANT_SIZES[GGMLQuantizationType[candidate]][0] == 0:
                    if candidate != kind:
                        fell_back.append((kind, candidate, shape[-1]))
                    kind = candidate
                    break
        plan.append(_Tensor(name, key, shape, kind))
    if fell_back:
        from collections import Counter

        for (wanted, used, width), count in sorted(Counter(fell_back).items()):
            block = GGML_QUANT_SIZES[GGMLQuantizationType[wanted]][0]
            notes.append(f"{count} of {len(plan)} tensors are {used} instead of {wanted}: their rows ({width} wide) "
                         f"are not a whole number of {wanted} blocks ({block}).")
    return plan


def _nbytes(t: _Tensor) -> int:
    """Bytes of the tensor as stored (the byte shape's last axis counts bytes for every type, F32 included)."""
    from gguf import GGMLQuantizationType
    from gguf.quants import quant_shape_to_byte_shape

    count = 1
    for dim in quant_shape_to_byte_shape(t.shape, GGMLQuantizationType[t.ggml_type]):
        count *= dim
    return count


def _encode(array, t: _Tensor, config: dict):
    import numpy as np
    from gguf import GGMLQuantizationType, quants

    heads = int(config["num_attention_heads"])
    if t.name.endswith("attn_q.weight"):
        array = permute(array, heads, heads)
    elif t.name.endswith("attn_k.weight"):
        array = permute(array, heads, int(config.get("num_key_value_heads") or heads))
    array = np.ascontiguousarray(array, dtype=np.float32)
    if t.ggml_type == "F32":
        return array
    if t.ggml_type == "F16":
        return array.astype(np.float16)
    return quants.quantize(array, GGMLQuantizationType[t.ggml_type])


# --- the file --------------------------------------------------------------------------------------------------

def export(folder: Path, target: Path, *, quant_name: str = DEFAULT_QUANT, name: str | None = None,
           system: str | None = None, modelfile: bool = True,
           progress: Callable[[int, int], object] | None = None) -> GGUFExport:
    """Write the model in `folder` (a transformers folder) to the .gguf file `target`, and an Ollama Modelfile
    beside it (with `system` as its SYSTEM prompt when given). `progress(done, total)` is called per tensor."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    folder, target = Path(folder), Path(target)
    what = name or str(folder)
    q = quant(quant_name)
    config = check(folder, what=what)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    config = {**config, **model.config.to_dict()}
    config.setdefault("tie_word_embeddings", getattr(model.config, "tie_word_embeddings", False))
    state = model.state_dict()
    n_vocab = int(state["model.embed_tokens.weight"].shape[0])
    eos = getattr(model.generation_config, "eos_token_id", None)
    words = vocab(tokenizer, n_vocab, what=what, extra_eos=eos if isinstance(eos, list) else [eos])
    notes: list[str] = []
    plan = _plan(state, config, q, notes, what)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _clear_stale_partials(target)
    total = sum(_nbytes(t) for t in plan)
    _room(target, total)
    try:
        writer = _writer(partial, config, words, q, what, plan, n_vocab)
        try:
            writer.write_header_to_file(path=partial)
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            for done, t in enumerate(plan, 1):
                data = _encode(state[t.source].detach().to(torch.float32).numpy(), t, config)
                writer.write_tensor_data(data)
                if progress:
                    progress(done, len(plan))
            writer.flush()
            os.fsync(writer.fout[0].fileno())
        finally:
            writer.close()
        digest, size = _sha256(partial), partial.stat().st_size
        os.replace(partial, target)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        _disk_full(exc, target)
        raise
    del model, state
    result = GGUFExport(target, q.name, size, digest, 0.0, tensors=len(plan), notes=notes)
    if modelfile:
        result.modelfile, why = write_modelfile(target, tokenizer, words, system=system, what=what)
        if why:
            notes.append(why)
    result.seconds = time.monotonic() - started
    return result


def _writer(partial: Path, config: dict, words: Vocab, q: Quant, what: str, plan: list[_Tensor], n_vocab: int):
    import numpy as np
    from gguf import GGML_QUANT_VERSION, GGMLQuantizationType, GGUFWriter, LlamaFileType
    from gguf.quants import quant_shape_to_byte_shape

    writer = GGUFWriter(partial, "llama")
    heads, hidden = int(config["num_attention_heads"]), int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // heads)
    writer.add_type("model")
    writer.add_name(what)
    writer.add_string("general.quantized_by", "PharmaTune")
    writer.add_file_type(int(LlamaFileType[q.file_type]))
    if any(t.ggml_type not in ("F32", "F16", "BF16") for t in plan):
        writer.add_quantization_version(GGML_QUANT_VERSION)
    writer.add_vocab_size(n_vocab)
    writer.add_context_length(int(config.get("max_position_embeddings") or 2048))
    writer.add_embedding_length(hidden)
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_rope_dimension_count(head_dim)
    writer.add_head_count(heads)
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or heads))
    if head_dim != hidden // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps") or 1e-6))
    rope = config.get("rope_parameters") or {}
    writer.add_rope_freq_base(float(rope.get("rope_theta") or config.get("rope_theta") or 10000.0))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(words.pre)
    writer.add_token_list(words.tokens)
    writer.add_token_types(words.types)
    writer.add_token_merges(words.merges)
    for kind, index in words.special.items():
        getattr(writer, f"add_{kind}_token_id")(index)
    writer.add_add_bos_token(words.add_bos)
    writer.add_add_eos_token(words.add_eos)
    if words.chat_template:
        writer.add_chat_template(words.chat_template)
    for t in plan:
        qtype = GGMLQuantizationType[t.ggml_type]
        if t.ggml_type in ("F32", "F16"):
            dtype = np.float32 if t.ggml_type == "F32" else np.float16
            writer.add_tensor_info(t.name, t.shape, np.dtype(dtype), _nbytes(t))
        else:
            writer.add_tensor_info(t.name, quant_shape_to_byte_shape(t.shape, qtype), np.dtype(np.uint8), _nbytes(t),
                                   raw_dtype=qtype)
    return writer


def _clear_stale_partials(target: Path) -> None:
    """Remove partial files an export killed mid-write left (their process is gone); a live one's stays."""
    for stale in target.parent.glob(f".{target.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            stale.unlink(missing_ok=True)
        except PermissionError:
            pass


def _room(target: Path, needed: int) -> None:
    """Refuse before writing when the disk clearly cannot hold the file (the write itself is still guarded)."""
    from data.io import disk_full_message, free_bytes

    free = free_bytes(target.parent)
    if free < needed:
        raise ModelError(disk_full_message(target.parent, f"the GGUF file {target.name} "
                                                          f"({needed / 2**20:.1f} MiB needed)", _kept(target)))


def _kept(target: Path) -> str:
    return f"the previous {target.name} is unchanged" if target.exists() else "nothing was left behind"


def _disk_full(exc: BaseException, target: Path) -> None:
    from data.io import disk_full_message, is_disk_full

    if isinstance(exc, (OSError, RuntimeError)) and is_disk_full(exc, target.parent):
        raise ModelError(disk_full_message(target.parent, f"the GGUF file {target.name}", _kept(target))) from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_name(stem: str, quant_name: str) -> str:
    """<stem>-<QUANT>.gguf, the way GGUF files are usually named (SmolLM2-135M-Instruct-Q8_0.gguf)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem).strip("-.") or "model"
    return f"{safe}-{quant(quant_name).name.upper()}.gguf"


def export_reference(ref: str, out_dir: Path, *, quant_name: str = DEFAULT_QUANT, system: str | None = None,
                     progress: Callable[[int, int], object] | None = None) -> GGUFExport:
    """Any model reference with local weights (builtin:, hf: folder, run:) as <out_dir>/<name>-<QUANT>.gguf."""
    from models.registry import parse
    from models.run import base_folder

    scheme, rest = parse(ref)
    if scheme == "run":
        from models.run import run_config

        task = run_config(rest).get("task", "sft")
        if task in ("classification", "regression"):
            raise ModelError(refusal_for_head(ref, task))
    folder = base_folder(ref)
    check(folder, what=ref)
    stem = rest if scheme != "hf" else Path(rest).name
    return export(folder, Path(out_dir) / file_name(stem, quant_name), quant_name=quant_name, name=ref,
                  system=system, progress=progress)


def refusal_for_head(ref: str, task: str) -> str:
    return (f"{ref} trained a {task} head, which predicts {'a class' if task == 'classification' else 'a number'} "
            "rather than generating text, and GGUF runtimes (llama.cpp, Ollama) only run text generation models, so "
            f"it cannot be exported to GGUF. GGUF export supports {SUPPORTED}.")
