"""`run:<id>`: the model a training run produced, i.e. its base plus its adapter, or its full weights.

`base_folder(ref)` turns any trainable reference into a transformers folder; training uses it for its base, so a
run can start from another run's output (domain-adaptive pretraining first, then a task)."""
from __future__ import annotations

from pathlib import Path

import yaml

import settings
from models.errors import ModelError

# Runs with a classification or regression head predict a class or a number; every other task (sft, pretrain,
# dpo, kto, orpo, grpo) leaves a causal LM that chats. Written here because models sits below training.
HEAD_TASKS = ("classification", "regression")


def run_dir(run_id: str) -> Path:
    folder = settings.runs_dir() / run_id
    if not run_id or "/" in run_id or not (folder / "config.yaml").is_file():
        raise ModelError(f"run:{run_id}: no training run with that id in {settings.runs_dir()} "
                         "(the Fine-tune tab lists them).")
    return folder


def head_task(ref: str) -> str | None:
    """classification or regression when `ref` is a run that trained a head (evaluation scores it in head mode);
    None for every other reference, a text-writing run, and a run that does not exist (loading it says why)."""
    scheme, _, rest = (ref or "").strip().partition(":")
    if scheme != "run":
        return None
    try:
        task = run_config(rest).get("task", "sft")
    except (ModelError, OSError, yaml.YAMLError):
        return None
    return task if task in HEAD_TASKS else None


def run_config(run_id: str) -> dict:
    return yaml.safe_load((run_dir(run_id) / "config.yaml").read_text(encoding="utf-8")) or {}


def weights(run_id: str) -> tuple[str, Path]:
    """("adapter", folder) or ("model", folder); a run still training or failed has neither."""
    folder = run_dir(run_id)
    for kind in ("adapter", "model"):
        if (folder / kind / "config.json").is_file() or (folder / kind / "adapter_config.json").is_file():
            return kind, folder / kind
    raise ModelError(f"run:{run_id} has no trained weights yet (it is still running, failed, or was cancelled "
                     "before it finished; resume it from the Fine-tune tab).")


def base_folder(ref: str) -> Path:
    """A transformers folder for a model reference that has local weights (builtin, hf folder, run)."""
    from models.registry import parse

    scheme, rest = parse(ref)
    if scheme == "builtin":
        from models import builtin

        return builtin.prepare(rest)
    if scheme == "hf":
        from models.hf import split

        from models.hf import _looks_like_hub_id

        target, adapter = split(rest)
        if adapter:
            raise ModelError(f"{ref}: train from a plain model folder; merge the adapter first (Export → merged model).")
        folder = Path(target).expanduser()
        if folder.is_dir():
            if not (folder / "config.json").is_file():
                raise ModelError(f"{ref}: {folder.resolve()} has no config.json, so it is not a transformers model folder.")
        elif not _looks_like_hub_id(target):
            raise ModelError(f"{ref}: tried the folder {folder.resolve()}, which does not exist, so it is not a "
                             f"transformers model folder (and {target} is not a hub id, org/name).")
        return folder
    if scheme == "run":
        kind, folder = weights(rest)
        if kind == "model":
            return folder
        from models.merge import merged

        return merged(rest)
    raise ModelError(f"{ref}: {scheme}: models cannot be fine-tuned here (use the OpenAI tab for OpenAI models).")


def is_masked_lm(config: dict, folder: Path) -> bool:
    """Whether a pretraining run (its config.yaml as a dict) trained a masked LM, as training decided it for the
    model in `folder` (its base, or its own weights)."""
    from transformers import AutoConfig

    model_config = AutoConfig.from_pretrained(str(folder), trust_remote_code=settings.trust_remote_code())
    return lm_objective(config.get("objective", "auto"), model_config) == "masked"


def lm_objective(chosen: str, model_config) -> str:
    """causal or masked: what a pretraining run with `objective: chosen` trains on this model (auto: causal for
    decoders, masked for encoders that have a masked-LM head)."""
    if chosen != "auto":
        return chosen
    architectures = getattr(model_config, "architectures", None) or []
    if any(a.endswith("ForCausalLM") for a in architectures) or getattr(model_config, "is_decoder", False):
        return "causal"
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return "masked" if model_config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES else "causal"


def load(rest: str):
    from models.transformers_backend import load_folder

    ref = f"run:{rest}"
    config = run_config(rest)
    task = config.get("task", "sft")
    if task in HEAD_TASKS:
        raise ModelError(f"{ref} trained a {task} head, which predicts a {'class' if task == 'classification' else 'number'}"
                         f" rather than text, so it cannot chat or generate; evaluate it on a {task} benchmark "
                         "instead (its head scores the items).")
    kind, folder = weights(rest)
    base = folder if kind == "model" else base_folder(config.get("base_model", "builtin:smollm2-135m-instruct"))
    if task == "pretrain" and is_masked_lm(config, base):
        raise ModelError(f"{ref} pretrained a masked LM (an encoder), which fills in masked tokens rather than "
                         "writing text, so it cannot chat or generate; use it as the base_model of a classification "
                         "or regression run.")
    if kind == "model":
        return load_folder(ref, folder)
    return load_folder(ref, base, adapter=folder)
