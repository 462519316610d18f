"""The tokenizer part of a GGUF file (models.gguf_export writes it): a fast byte-level BPE tokenizer's tokens, their
types, merges, special ids, whether encoding adds BOS/EOS, its chat template and end-of-generation tokens, and
llama.cpp's name for its pre-tokenizer (tokenizer.ggml.pre). SentencePiece-style vocabularies are refused.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from models.errors import ModelError

SUPPORTED = "LlamaForCausalLM and MistralForCausalLM (without a sliding window), with a byte-level BPE tokenizer"
# sha256 of the SmolLM/SmolLM2 vocabulary (tokens in id order, joined by newlines): llama.cpp names its
# pre-tokenizer "smollm" (digits split one by one). The converted builtin folder's tokenizer.json lost that step
# in transformers' GGUF conversion, so the vocabulary, not the pre-tokenizer, says which model this is.
SMOLLM_VOCAB_SHA256 = "d1f2ce856b324081b621d9e2e8dbd22879f462329f3fd4aa39fa758dddb2ce55"
# Pre-tokenizer regexes (tokenizers' Split patterns) whose llama.cpp names are known.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
SPLITS = {LLAMA3_SPLIT: "llama-bpe", QWEN2_SPLIT: "qwen2"}


@dataclass
class Vocab:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    special: dict[str, int]  # bos, eos, unk, pad → id
    add_bos: bool
    add_eos: bool
    chat_template: str | None
    eog: list[str]  # end-of-generation tokens (Modelfile stop parameters)


def looks_special(token: str) -> bool:
    """Added tokens some tokenizers forget to mark special (llama.cpp's rule): <|...|>, <pad>, <mask>."""
    return token in ("<pad>", "<mask>") or (token.startswith("<|") and token.endswith("|>"))


def vocab(tokenizer, n_vocab: int, *, what: str, extra_eos: list[int] | None = None) -> Vocab:
    """The GGUF tokenizer fields of a fast byte-level BPE tokenizer, padded to the embedding's rows."""
    from gguf import TokenType

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ModelError(f"{what}: its tokenizer has no tokenizer.json (a slow tokenizer); GGUF export needs a fast "
                         "byte-level BPE tokenizer.")
    spec = json.loads(backend.to_str())
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback") or "ByteLevel" not in json.dumps(spec.get("decoder")):
        kind = "SentencePiece-style (byte-fallback BPE)" if model.get("byte_fallback") else model.get("type", "unknown")
        raise ModelError(f"{what}: its tokenizer is {kind}, not byte-level BPE; GGUF export writes byte-level BPE "
                         f"(GPT-2 style) tokenizers only. Supported: {SUPPORTED}.")
    ids = tokenizer.get_vocab()
    if max(ids.values()) >= n_vocab:
        raise ModelError(f"{what}: its tokenizer has ids up to {max(ids.values())} but the model's embedding has only "
                         f"{n_vocab} rows; resize the embeddings (or drop the extra tokens) before exporting.")
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    types = [int(TokenType.UNUSED)] * n_vocab
    for token, index in ids.items():
        tokens[index], types[index] = token, int(TokenType.NORMAL)
    for index, added in tokenizer.added_tokens_decoder.items():
        if index >= n_vocab:
            continue
        text = added.content
        if added.special or looks_special(text):
            types[index] = int(TokenType.CONTROL)
        else:
            types[index] = int(TokenType.USER_DEFINED)
            if not added.normalized:  # llama.cpp matches user-defined tokens as plain text
                text = tokenizer.decode(tokenizer.encode(text, add_special_tokens=False))
        tokens[index] = text
    merges = []
    for merge in model.get("merges") or []:
        pair = merge.split(" ", 1) if isinstance(merge, str) else merge
        merges.append(" ".join("".join(chr(ord(c) + 256) if c == " " else c for c in part) for part in pair))
    special = {name: getattr(tokenizer, f"{name}_token_id", None) for name in ("bos", "eos", "unk", "pad")}
    special = {k: int(v) for k, v in special.items() if isinstance(v, int) and 0 <= v < n_vocab}
    add_bos, add_eos = _adds_specials(tokenizer, special)
    template = tokenizer.chat_template
    if isinstance(template, dict):
        template = template.get("default") or next(iter(template.values()), None)
    eog = [tokens[i] for i in [special.get("eos"), *(extra_eos or [])] if isinstance(i, int) and 0 <= i < n_vocab]
    eog += [t for t in ("<|im_end|>", "<|eot_id|>", "<|end|>") if t in ids and template and t in template]
    eog = list(dict.fromkeys(eog))
    return Vocab(tokens, types, merges, _pre_name(spec, tokens, what), special, add_bos, add_eos, template, eog)


def _adds_specials(tokenizer, special: dict) -> tuple[bool, bool]:
    """Whether encoding adds BOS / EOS around the text (a post-processor's template), as llama.cpp needs to know."""
    with_specials = tokenizer("Hello", add_special_tokens=True)["input_ids"]
    plain = tokenizer("Hello", add_special_tokens=False)["input_ids"]
    bos, eos = special.get("bos"), special.get("eos")
    add_bos = bos is not None and with_specials[:1] == [bos] and plain[:1] != [bos]
    add_eos = eos is not None and with_specials[-1:] == [eos] and plain[-1:] != [eos]
    return add_bos, add_eos


def _pre_name(spec: dict, tokens: list[str], what: str) -> str:
    """llama.cpp's name for how text is split before the merges (tokenizer.ggml.pre)."""
    if hashlib.sha256("\n".join(tokens).encode("utf-8")).hexdigest() == SMOLLM_VOCAB_SHA256:
        return "smollm"
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True) and not steps[0].get("add_prefix_space"):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        pattern = (steps[0].get("pattern") or {}).get("Regex")
        if pattern in SPLITS:
            return SPLITS[pattern]
    raise ModelError(f"{what}: its tokenizer splits text with a pre-tokenizer ({json.dumps(pre)[:200]}) that has no "
                     "llama.cpp name this exporter can match (gpt-2, smollm, llama-bpe, qwen2), so llama.cpp would "
                     "tokenize differently; it is not exported.")
