"""A model reference's tokenizer without its weights: what token-length analysis and length checks need."""
from __future__ import annotations

from pathlib import Path

import settings
from models.errors import ModelError


def _builtin_folder(rest: str) -> Path:
    from models import builtin

    return builtin.prepare(rest)


def _hf_folder(rest: str) -> Path:
    from models import hf

    target, adapter = hf.split(rest)
    if adapter and (Path(adapter) / "tokenizer_config.json").is_file():
        return Path(adapter)
    return Path(target).expanduser()


FOLDERS = {"builtin": _builtin_folder, "hf": _hf_folder}


def load_tokenizer(ref: str):
    """The transformers tokenizer of `ref` (builtin: or hf:). Others have no local tokenizer to load."""
    from models.registry import parse

    scheme, rest = parse(ref)
    if scheme not in FOLDERS:
        raise ModelError(f"{ref}: token lengths need a local tokenizer ({', '.join(s + ':' for s in FOLDERS)} "
                         "models); OpenAI token counts are in the OpenAI tab.")
    folder = FOLDERS[scheme](rest)
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=settings.trust_remote_code())
    except Exception as exc:  # noqa: BLE001 - many loader error types; the user needs one sentence
        raise ModelError(f"{ref}: no usable tokenizer in {folder} ({type(exc).__name__}: {exc})") from exc


def token_counter(ref: str):
    """records -> token lengths for the model `ref` (chat template applied): what length checks and stats use."""
    from data.lengths import tokenizer_counter

    return tokenizer_counter(load_tokenizer(ref))
