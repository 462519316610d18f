"""Which models the UI offers: the builtin ones, local folders, finished fine-tuning runs that generate text
(run:<id>), and OpenAI models (with the fine-tuned ones from the store) when a key is set.

Reads only the file system: it never loads weights, so listing is instant.
"""
from __future__ import annotations

import settings


def local_model_refs() -> list[str]:
    """hf: references for each folder in the local models directory that holds a model or an adapter."""
    root = settings.local_models_dir()
    if not root.is_dir():
        return []
    return [
        f"hf:{folder}"
        for folder in sorted(root.iterdir())
        if (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()
    ]


def run_model_refs(limit: int = 50, *, heads: bool = False) -> list[str]:
    """run:<id> for each training run, newest first, that saved weights and trained a text-generating task (with
    `heads`, classification and regression heads too: they are evaluated, not chatted with)."""
    import yaml

    root = settings.runs_dir()
    if not root.is_dir():
        return []
    from models.run import HEAD_TASKS

    refs = []
    for folder in sorted(root.glob("training-*"), reverse=True):
        has_weights = (folder / "adapter" / "adapter_config.json").is_file() or (folder / "model" / "config.json").is_file()
        if not has_weights:
            continue
        try:
            task = (yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")) or {}).get("task", "sft")
        except (OSError, yaml.YAMLError):
            continue
        if heads or task not in HEAD_TASKS:  # a head predicts a class or a number; it does not chat
            refs.append(f"run:{folder.name}")
        if len(refs) >= limit:
            break
    return refs


def available_models(openai_key: str | None = None, *, server_key: bool = True, heads: bool = False) -> list[str]:
    """Every model this machine can use; OpenAI models when a key is there (the typed `openai_key`, or the
    server's OPENAI_API_KEY when `server_key`: a public app's viewers do not get the owner's key); with `heads`,
    the classification and regression runs too (for evaluation)."""
    from models.builtin import BUILTIN_MODELS
    from models.openai_chat import OPENAI_CHAT_MODELS, key_available

    refs = [f"builtin:{name}" for name in BUILTIN_MODELS] + local_model_refs() + run_model_refs(heads=heads)
    if key_available(openai_key) if server_key else bool((openai_key or "").strip()):
        refs += [f"openai:{m}" for m in OPENAI_CHAT_MODELS] + fine_tuned_refs()
    return refs


def fine_tuned_refs() -> list[str]:
    """openai:ft:... models of the OpenAI jobs that succeeded (from the store); none when it cannot be read."""
    try:
        from openai_ft.jobs import fine_tuned_models

        return fine_tuned_models()
    except Exception:  # noqa: BLE001 - a missing or locked store must not empty the model lists
        return []
