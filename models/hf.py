"""`hf:<folder or hub id>[?adapter=<folder>]`: a transformers model, optionally with a PEFT adapter.

A folder that is itself an adapter (it has adapter_config.json) loads its base model from that config.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

from models.errors import ModelError


def split(rest: str) -> tuple[str, str | None]:
    """'path?adapter=x' → ('path', 'x')."""
    target, _, query = rest.partition("?")
    options = parse_qs(query)
    unknown = set(options) - {"adapter"}
    if unknown:
        raise ModelError(f"hf:{rest}: unknown option {sorted(unknown)[0]!r}; the only option is ?adapter=<folder>.")
    adapter = options.get("adapter", [None])[0]
    return target, adapter


def _looks_like_hub_id(target: str) -> bool:
    parts = target.split("/")
    return len(parts) == 2 and all(parts) and not target.startswith((".", "/", "~"))


def load(rest: str):
    from models.transformers_backend import load_folder

    ref = f"hf:{rest}"
    target, adapter = split(rest)
    if not target:
        raise ModelError("hf: needs a folder or a hub id, for example hf:local_models/my-model.")
    folder = Path(target).expanduser()
    if adapter is None and (folder / "adapter_config.json").is_file():
        adapter, folder = str(folder), None
        base = json.loads(Path(adapter, "adapter_config.json").read_text()).get("base_model_name_or_path")
        if not base:
            raise ModelError(f"{ref}: the adapter's adapter_config.json names no base_model_name_or_path.")
        folder = Path(base)
    if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
        raise ModelError(f"{ref}: no PEFT adapter at {Path(adapter).resolve()} (adapter_config.json is missing).")
    tried = f"the folder {folder.resolve()}"
    if not folder.is_dir():
        if not _looks_like_hub_id(str(folder)):
            raise ModelError(f"{ref}: tried {tried}, which does not exist, and {folder} is not a hub id (org/name).")
        tried += f" (absent) and the Hugging Face Hub id {folder}"
    elif not (folder / "config.json").is_file():
        raise ModelError(f"{ref}: {folder.resolve()} has no config.json, so it is not a transformers model folder.")
    try:
        return load_folder(ref, str(folder), adapter=adapter)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - loader errors come in many types; the user needs one sentence
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{ref} could not be loaded (tried {tried}): {first_line}") from exc
